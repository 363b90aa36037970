import MarkdownIt from 'markdown-it';

/**
 * Markdown to HTML for readers. Raw HTML in the source is escaped, not passed through
 * (`html: false`), and markdown-it drops links to `javascript:`, `vbscript:`, `file:` and
 * non-image `data:` URLs; links that leave the site open in a new tab without handing it
 * `window.opener` or a referrer.
 */
const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false });

markdown.renderer.rules.link_open = (tokens, index, options, _env, self) => {
  const token = tokens[index];
  if (/^https?:\/\//i.test(token?.attrGet('href') ?? '')) {
    token?.attrSet('target', '_blank');
    token?.attrSet('rel', 'noopener noreferrer nofollow');
  }
  return self.renderToken(tokens, index, options);
};

// Versions are immutable, so a rendering can be kept by version id; bounded, oldest out first.
const CACHE_SIZE = 500;
const rendered = new Map<string, string>();

export function renderMarkdown(body: string, cacheKey?: string): string {
  if (cacheKey) {
    const hit = rendered.get(cacheKey);
    if (hit !== undefined) return hit;
  }
  const html = markdown.render(body);
  if (cacheKey) {
    if (rendered.size >= CACHE_SIZE) rendered.delete(rendered.keys().next().value as string);
    rendered.set(cacheKey, html);
  }
  return html;
}
