import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { multipartFile } from '../helpers/multipart.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { contentBody, contentCounts, createContent, patchContent } from './helpers.js';

let shade = 0;
const picture = () => {
  shade += 1;
  return sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 30, g: shade * 9, b: 200 } } })
    .png()
    .toBuffer();
};

describe('content pictures', () => {
  let t: TestApp;
  let admin: TestUser;
  let otherAdmin: TestUser;
  let reader: TestUser;

  beforeAll(async () => {
    t = await buildTestApp();
    [admin, otherAdmin, reader] = await Promise.all([
      createUser(t.app, { role: 'admin' }),
      createUser(t.app, { role: 'admin' }),
      createUser(t.app),
    ]);
  });
  afterAll(() => t.close());

  const upload = async (who: TestUser, purpose: string): Promise<string> => {
    const body = multipartFile(await picture(), 'picture.png', 'image/png');
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/media?purpose=${purpose}`,
      headers: { ...who.headers, ...body.headers },
      payload: body.payload,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().data.id;
  };
  const read = async (slug: string) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/content/${slug}`, headers: reader.headers });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  };
  const listed = async (slug: string) => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/content?limit=100' });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data.find((item: { slug: string }) => item.slug === slug);
  };
  const itemImage = async (id: string) =>
    (
      await queryRows<{ image_media_id: string | null }>(
        t.app.platform.db,
        sql`select image_media_id from content_items where id = ${id}`,
      )
    )[0]?.image_media_id;

  it('shows readers the picture an admin linked, in the list and the item, and changes it without a new version', async () => {
    const first = await upload(admin, 'content');
    const item = await createContent(t.app, admin, { status: 'published', image_media_id: first });
    expect(item).toMatchObject({ version: 1, image_media_id: first });

    const opened = await read(item.slug);
    expect(opened.image).toMatchObject({ id: first, width: 400, height: 300 });
    expect(Object.keys(opened.image.variants).sort()).toEqual(['card', 'full', 'thumbnail']);
    expect(opened.image.variants.card[0].url).toMatch(/^\/api\/v1\/media\/files\/[0-9a-f]{64}\.webp$/);
    expect((await listed(item.slug)).image).toMatchObject({ id: first });

    // Another admin's own upload replaces it: the picture is not versioned.
    const second = await upload(otherAdmin, 'content');
    const changed = await patchContent(t.app, otherAdmin, item.id, { image_media_id: second });
    expect(changed).toMatchObject({ version: 1, image_media_id: second });
    expect((await read(item.slug)).image.id).toBe(second);
    // An edit that leaves the picture alone keeps it, whoever edits.
    expect(await patchContent(t.app, admin, item.id, { title: 'Retitled' })).toMatchObject({
      version: 2,
      image_media_id: second,
    });

    expect((await patchContent(t.app, admin, item.id, { image_media_id: null })).image_media_id).toBeNull();
    expect((await read(item.slug)).image).toBeNull();
    expect((await listed(item.slug)).image).toBeNull();
    const plain = await createContent(t.app, admin, { status: 'published' });
    expect((await read(plain.slug)).image).toBeNull();
  });

  it("refuses another person's upload like no upload, and an upload made for another purpose, naming the field", async () => {
    const theirs = await upload(otherAdmin, 'content');
    const readers = await upload(reader, 'content');
    const avatar = await upload(admin, 'avatar');
    const before = await contentCounts(t.app);
    for (const id of [theirs, readers, avatar, '01900000-0000-7000-8000-00000000cafe']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/admin/content',
        headers: admin.headers,
        payload: contentBody({ status: 'published', image_media_id: id }),
      });
      expect(res.statusCode, id).toBe(400);
      expect(res.json().details).toEqual([expect.objectContaining({ field: 'body.image_media_id' })]);
    }
    expect(await contentCounts(t.app)).toEqual(before);

    const item = await createContent(t.app, admin, { status: 'published' });
    const patch = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/admin/content/${item.id}`,
      headers: admin.headers,
      payload: { image_media_id: theirs },
    });
    expect(patch.statusCode).toBe(400);
    expect(patch.json().details[0].field).toBe('body.image_media_id');
    expect(await itemImage(item.id)).toBeNull();
  });

  it('a deleted upload leaves the item without a picture', async () => {
    const image = await upload(admin, 'content');
    const item = await createContent(t.app, admin, { status: 'published', image_media_id: image });
    expect((await read(item.slug)).image.id).toBe(image);
    const deleted = await t.app.inject({ method: 'DELETE', url: `/api/v1/media/${image}`, headers: admin.headers });
    expect(deleted.statusCode).toBe(204);
    expect(await itemImage(item.id)).toBeNull();
    expect((await read(item.slug)).image).toBeNull();
    const adminView = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/content/${item.id}`,
      headers: admin.headers,
    });
    expect(adminView.json().data.image_media_id).toBeNull();
  });
});
