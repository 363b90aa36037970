import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { ifNoneMatchNames } from '../../shared/etag.js';

/**
 * Stricter than the API default: the page runs only its own scripts and stylesheets, talks only
 * to this origin, and its sign-in form can never be submitted natively (the script posts JSON).
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const ASSETS_DIR = new URL('./assets/', import.meta.url);

const TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'manage.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'charts.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

/** Where a text file links another asset: replaced by that asset's version. */
const VERSION_SLOT = /\{\{version:([\w.-]+)\}\}/g;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  /** Short content hash: the page links `name?v=<version>`, so a versioned URL may be cached for good. */
  version: string;
}

function asset(body: Buffer, type: string): Asset {
  const digest = createHash('sha256').update(body).digest('base64url');
  return { body, type, etag: `"${digest}"`, version: digest.slice(0, 12) };
}

/**
 * Every asset, each text file's version slots filled in before it is hashed: a file's version
 * covers the versions it links, so a change to charts.js gives app.js, which imports it, a new
 * URL too, and a deploy never serves a stale module to a new page.
 */
async function loadAssets(): Promise<{ assets: Map<string, Asset>; stamp: (text: string, from: string) => string }> {
  const assets = new Map<string, Asset>();
  const loading = new Set<string>();
  const stamp = (text: string, from: string) =>
    text.replace(VERSION_SLOT, (_match, name: string) => {
      const linked = assets.get(name);
      if (!linked) throw new Error(`admin dashboard: ${from} links unknown asset ${name}`);
      return linked.version;
    });
  const load = async (name: string): Promise<void> => {
    if (assets.has(name)) return;
    if (loading.has(name)) throw new Error(`admin dashboard: ${name} links itself through other assets`);
    loading.add(name);
    const type = TYPES[name]!;
    let body = await readFile(new URL(name, ASSETS_DIR));
    if (type.startsWith('text/')) {
      const text = body.toString('utf8');
      for (const [, linked = ''] of text.matchAll(VERSION_SLOT)) {
        if (TYPES[linked]) await load(linked);
      }
      body = Buffer.from(stamp(text, name));
    }
    assets.set(name, asset(body, type));
  };
  for (const name of Object.keys(TYPES)) await load(name);
  return { assets, stamp };
}

/**
 * The admin dashboard at /admin: one HTML page plus its scripts, stylesheets and icon, read
 * once when the plugin registers. The page signs in and calls the analytics API itself; these
 * routes serve files only, so they carry no access rule and stay out of the API docs.
 */
export async function adminDashboardRoutes(app: FastifyInstance) {
  const { assets, stamp } = await loadAssets();
  const template = await readFile(new URL('index.html', ASSETS_DIR), 'utf8');
  const page = asset(Buffer.from(stamp(template, 'index.html')), 'text/html; charset=utf-8');

  const routeOptions = {
    // Static files: our own ETag below, no per-request hashing by the etag plugin.
    config: { etag: false },
    schema: { hide: true },
  } as const;

  app.get('/admin', routeOptions, async (request, reply) => {
    reply
      .header('content-security-policy', DASHBOARD_CSP)
      .header('cache-control', 'no-cache')
      .header('etag', page.etag);
    if (ifNoneMatchNames(request.headers['if-none-match'], page.etag)) return reply.code(304).send();
    return reply.type(page.type).send(page.body);
  });

  for (const [name, file] of assets) {
    app.get<{ Querystring: { v?: string } }>(`/admin/${name}`, routeOptions, async (request, reply) => {
      const pinned = request.query.v === file.version;
      reply
        .header('content-security-policy', DASHBOARD_CSP)
        .header('cache-control', pinned ? 'public, max-age=31536000, immutable' : 'no-cache')
        .header('etag', file.etag);
      if (ifNoneMatchNames(request.headers['if-none-match'], file.etag)) return reply.code(304).send();
      return reply.type(file.type).send(file.body);
    });
  }
}
