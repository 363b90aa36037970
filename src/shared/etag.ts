import { hash } from 'node:crypto';

/** The strong ETag of a serialised body, as the etag plugin sends it. */
export function etagOf(payload: string | Buffer): string {
  // One-shot hashing: the same digest as createHash('sha1'), without a Hash object per response.
  return `"${hash('sha1', payload, 'base64url')}"`;
}

/** Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks for GET). */
export function ifNoneMatchNames(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === bare);
}
