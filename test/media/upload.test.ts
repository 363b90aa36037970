import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { multipartFile } from '../helpers/multipart.js';
import { createUser, type TestUser } from '../helpers/users.js';

/** A 1200×800 JPEG stored sideways (EXIF orientation 6) with a camera model and GPS-like metadata. */
async function sidewaysPhoto(): Promise<Buffer> {
  return sharp({ create: { width: 1200, height: 800, channels: 3, background: { r: 200, g: 80, b: 40 } } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .withExif({ IFD0: { Make: 'CareCam', Model: 'Secret Model 7' } })
    .toBuffer();
}

describe('POST /api/v1/media', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  beforeAll(async () => {
    t = await buildTestApp({ env: { MEDIA_MAX_BYTES: '200000' } });
    [alice, bob] = [await createUser(t.app), await createUser(t.app)];
  });
  afterAll(() => t.close());

  const upload = (who: TestUser, body: ReturnType<typeof multipartFile>, query = '') =>
    t.app.inject({
      method: 'POST',
      url: `/api/v1/media${query}`,
      headers: { ...who.headers, ...body.headers },
      payload: body.payload,
    });
  const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url, headers });

  it('stores upright variants without the source metadata, served content-addressed for a year', async () => {
    const source = await sidewaysPhoto();
    expect((await sharp(source).metadata()).exif).toBeDefined();
    const res = await upload(alice, multipartFile(source), '?purpose=avatar');
    expect(res.statusCode, res.body).toBe(201);
    const media = res.json().data;
    // Orientation 6 turns the 1200×800 pixels into an 800×1200 picture.
    expect(media).toMatchObject({ purpose: 'avatar', width: 800, height: 1200, source_type: 'image/jpeg' });
    expect(media.variants.thumbnail[0]).toMatchObject({ content_type: 'image/webp', width: 133, height: 200 });
    expect(media.variants.card.map((v: { content_type: string }) => v.content_type)).toEqual([
      'image/webp',
      'image/avif',
    ]);
    expect(media.variants.full[0]).toMatchObject({ width: 800, height: 1200 }); // never enlarged

    const file = await get(media.variants.card[0].url);
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('image/webp');
    expect(file.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const served = await sharp(file.rawPayload).metadata();
    expect(served).toMatchObject({ format: 'webp', width: 427, height: 640 });
    expect(served.exif).toBeUndefined();
    expect(file.rawPayload.includes('Secret Model 7')).toBe(false);
    expect(file.rawPayload.length).toBe(media.variants.card[0].bytes);
    // The name is the digest of the bytes; a client that has them gets 304.
    const again = await get(media.variants.card[0].url, { 'if-none-match': String(file.headers.etag) });
    expect(again.statusCode).toBe(304);

    const mine = await get('/api/v1/me/media', alice.headers);
    expect(mine.json().data.map((m: { id: string }) => m.id)).toEqual([media.id]);
    expect((await get('/api/v1/me/media', bob.headers)).json().data).toEqual([]);
  });

  it('tells the type by the content: text named photo.jpg is 415, a broken JPEG 400, nothing stored', async () => {
    const text = await upload(bob, multipartFile(Buffer.from('<?php system($_GET["c"]); ?>'), 'photo.jpg'));
    expect(text.statusCode).toBe(415);
    expect(text.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const broken = await upload(
      bob,
      multipartFile(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(500, 7)])),
    );
    expect(broken.statusCode).toBe(400);
    expect(broken.json().details).toEqual([expect.objectContaining({ field: 'body.file' })]);
    const json = await t.app.inject({
      method: 'POST',
      url: '/api/v1/media',
      headers: bob.headers,
      payload: { file: 'x' },
    });
    expect(json.statusCode).toBe(415);
    expect((await get('/api/v1/me/media', bob.headers)).json().data).toEqual([]);
  });

  it('refuses a file over MEDIA_MAX_BYTES with 413, and an unknown purpose with 400', async () => {
    const big = await sharp({ create: { width: 1500, height: 1500, channels: 3, background: '#888' } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(big.length).toBeGreaterThan(200_000);
    const res = await upload(bob, multipartFile(big, 'big.png', 'image/png'));
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('PAYLOAD_TOO_LARGE');
    const small = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#123' } })
      .png()
      .toBuffer();
    expect((await upload(bob, multipartFile(small, 's.png', 'image/png'), '?purpose=wallpaper')).statusCode).toBe(400);
    expect((await upload(bob, multipartFile(small, 's.png', 'image/png'))).statusCode).toBe(201);
  });

  it('deletes an upload for its owner only; a file two uploads share stays until both are gone', async () => {
    const bytes = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#0a0' } })
      .png()
      .toBuffer();
    const first = (await upload(alice, multipartFile(bytes, 'a.png', 'image/png'))).json().data;
    const second = (await upload(bob, multipartFile(bytes, 'b.png', 'image/png'))).json().data;
    const url = first.variants.thumbnail[0].url;
    expect(second.variants.thumbnail[0].url).toBe(url);

    const del = (who: TestUser, id: string) =>
      t.app.inject({ method: 'DELETE', url: `/api/v1/media/${id}`, headers: who.headers });
    expect((await del(bob, first.id)).statusCode).toBe(404);
    expect((await del(alice, first.id)).statusCode).toBe(204);
    expect((await get(url)).statusCode).toBe(200); // bob's upload still uses it
    expect((await del(bob, second.id)).statusCode).toBe(204);
    expect((await get(url)).statusCode).toBe(404);
    expect((await del(bob, second.id)).statusCode).toBe(404);
  });

  it('erases a person’s uploads and their files with the account', async () => {
    const carol = await createUser(t.app);
    const bytes = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#f0f' } })
      .png()
      .toBuffer();
    const created = (await upload(carol, multipartFile(bytes, 'c.png', 'image/png'))).json().data;
    const entry = t.app.platform.dataMap?.entries().find((candidate) => candidate.module === 'media');
    expect(JSON.stringify(await entry?.export(t.app.platform.db, carol.id))).toContain(created.id);
    const erased = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/me',
      headers: carol.headers,
      payload: { password: carol.password },
    });
    expect(erased.statusCode, erased.body).toBeLessThan(300);
    expect((await get(created.variants.full[0].url)).statusCode).toBe(404);
  });
});
