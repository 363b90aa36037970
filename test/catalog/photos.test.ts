import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { multipartFile } from '../helpers/multipart.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { createCategory, createProvider, createService } from './helpers.js';

interface Image {
  id: string;
  width: number;
  height: number;
  variants: Record<string, { url: string; content_type: string }[]>;
}

let shade = 0;
/** A small PNG of its own colour, so no two uploads share their files. */
const photo = () => {
  shade += 1;
  return sharp({
    create: { width: 320, height: 240, channels: 3, background: { r: shade % 256, g: (shade * 7) % 256, b: 90 } },
  })
    .png()
    .toBuffer();
};

describe('photos on provider pages and services', () => {
  let t: TestApp;
  let admin: TestUser;
  let categoryId: string;
  let alice: { user: TestUser; providerId: string };
  let bob: { user: TestUser; providerId: string };

  beforeAll(async () => {
    t = await buildTestApp();
    admin = await createUser(t.app, { role: 'admin' });
    categoryId = (await createCategory(t.app, admin, { name: 'Facials' })).id;
    alice = await createProvider(t.app, admin, { display_name: 'Alice Aesthetics', city: 'Leeds' });
    bob = await createProvider(t.app, admin, { display_name: 'Bob Barber', city: 'York' });
  });
  afterAll(() => t.close());

  const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, who?: TestUser, payload?: unknown) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: who?.headers ?? {},
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const upload = async (who: TestUser, purpose: string): Promise<string> => {
    const body = multipartFile(await photo(), 'photo.png', 'image/png');
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/media?purpose=${purpose}`,
      headers: { ...who.headers, ...body.headers },
      payload: body.payload,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().data.id;
  };
  const page = async (providerId: string) => {
    const res = await api('GET', `/providers/${providerId}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data as {
      avatar: Image | null;
      gallery: Image[];
      services: { id: string; image: Image | null }[];
    };
  };
  const setAvatar = (who: TestUser, id: string | null) =>
    api('PATCH', '/provider/profile', who, { avatar_media_id: id });
  const setGallery = (who: TestUser, ids: string[]) => api('PUT', '/provider/gallery', who, { media_ids: ids });
  const providerRow = async (providerId: string) =>
    (
      await queryRows<{ avatar_media_id: string | null }>(
        t.app.platform.db,
        sql`select avatar_media_id from providers where id = ${providerId}`,
      )
    )[0];
  const galleryRows = (providerId: string) =>
    queryRows<{ media_id: string; position: number }>(
      t.app.platform.db,
      sql`select media_id, position from provider_gallery where provider_id = ${providerId} order by position`,
    );
  const expectRefused = (
    res: { statusCode: number; json(): { code: string; details: { field: string }[] } },
    field: string,
  ) => {
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_ERROR');
    expect(res.json().details.map((detail) => detail.field)).toEqual([field]);
  };

  it("shows the provider's own avatar, gallery (in order) and service photo on the public pages", async () => {
    const [avatar, first, second, picture] = [
      await upload(alice.user, 'avatar'),
      await upload(alice.user, 'gallery'),
      await upload(alice.user, 'gallery'),
      await upload(alice.user, 'service'),
    ];
    // Read (and cached) before the links: each link must make it stale.
    expect(await page(alice.providerId)).toMatchObject({ avatar: null, gallery: [], services: [] });

    const patched = await setAvatar(alice.user, avatar);
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().data.avatar_media_id).toBe(avatar);
    const gallery = await setGallery(alice.user, [second, first]);
    expect(gallery.statusCode, gallery.body).toBe(200);
    expect(gallery.json().data.map((image: Image) => image.id)).toEqual([second, first]);
    const service = await createService(t.app, alice.user, {
      category_id: categoryId,
      name: 'Glow facial',
      image_media_id: picture,
    });
    expect(service).toMatchObject({ image_media_id: picture });

    const shown = await page(alice.providerId);
    expect(shown.avatar).toMatchObject({ id: avatar, width: 320, height: 240 });
    expect(Object.keys(shown.avatar?.variants ?? {}).sort()).toEqual(['card', 'full', 'thumbnail']);
    expect(shown.gallery.map((image) => image.id)).toEqual([second, first]);
    // A list shows the thumbnail and the card, not the full size.
    expect(shown.services).toEqual([
      expect.objectContaining({ id: service.id, image: expect.objectContaining({ id: picture }) }),
    ]);
    expect(Object.keys(shown.services[0]?.image?.variants ?? {}).sort()).toEqual(['card', 'thumbnail']);

    const file = await t.app.inject({ method: 'GET', url: shown.avatar?.variants.full?.[0]?.url ?? '' });
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('image/webp');

    const servicePage = (await api('GET', `/services/${service.id}`)).json().data;
    expect(servicePage.image).toMatchObject({ id: picture });
    expect(Object.keys(servicePage.image.variants).sort()).toEqual(['card', 'full', 'thumbnail']);
    const search = await api('GET', `/services/search?provider_id=${alice.providerId}`);
    expect(search.statusCode, search.body).toBe(200);
    expect(search.json().data).toEqual([
      expect.objectContaining({ id: service.id, image: expect.objectContaining({ id: picture }) }),
    ]);
    expect(Object.keys(search.json().data[0].image.variants).sort()).toEqual(['card', 'thumbnail']);

    const own = await api('GET', '/provider/gallery', alice.user);
    expect(own.json().data.map((image: Image) => image.id)).toEqual([second, first]);
    expect(await galleryRows(alice.providerId)).toEqual([
      { media_id: second, position: 0 },
      { media_id: first, position: 1 },
    ]);

    // Null takes the photos off again; [] empties the gallery.
    expect((await setAvatar(alice.user, null)).json().data.avatar_media_id).toBeNull();
    expect((await setGallery(alice.user, [])).json().data).toEqual([]);
    const patchService = await api('PATCH', `/provider/services/${service.id}`, alice.user, { image_media_id: null });
    expect(patchService.json().data.image_media_id).toBeNull();
    expect(await page(alice.providerId)).toMatchObject({ avatar: null, gallery: [], services: [{ image: null }] });
  });

  it("refuses someone else's upload exactly as an id that is no upload: 400 naming the field, nothing linked", async () => {
    const bobsAvatar = await upload(bob.user, 'avatar');
    const bobsGallery = await upload(bob.user, 'gallery');
    const bobsService = await upload(bob.user, 'service');
    const nobody = '01900000-0000-7000-8000-00000000abcd';
    const mine = await upload(alice.user, 'avatar');
    expect((await setAvatar(alice.user, mine)).statusCode).toBe(200);

    const others = await setAvatar(alice.user, bobsAvatar);
    expectRefused(others, 'body.avatar_media_id');
    const missing = await setAvatar(alice.user, nobody);
    expectRefused(missing, 'body.avatar_media_id');
    // The same words but the id: nothing tells Bob's upload from no upload at all.
    expect(others.json().details[0].message.replace(bobsAvatar, 'ID')).toBe(
      missing.json().details[0].message.replace(nobody, 'ID'),
    );
    expectRefused(await setGallery(alice.user, [bobsGallery]), 'body.media_ids');
    const service = await api('POST', '/provider/services', alice.user, {
      name: 'Borrowed photo',
      category_id: categoryId,
      duration_minutes: 30,
      price_minor: 1000,
      currency: 'GBP',
      image_media_id: bobsService,
    });
    expectRefused(service, 'body.image_media_id');

    expect((await providerRow(alice.providerId))?.avatar_media_id).toBe(mine);
    expect(await galleryRows(alice.providerId)).toEqual([]);
    expect((await page(alice.providerId)).avatar?.id).toBe(mine);
    // Bob's uploads are still Bob's to use.
    expect((await setAvatar(bob.user, bobsAvatar)).statusCode).toBe(200);
  });

  it('refuses an upload made for another purpose (a document never shows publicly), naming the field', async () => {
    const galleryPhoto = await upload(alice.user, 'gallery');
    const document = await upload(alice.user, 'document');
    const avatar = await upload(alice.user, 'avatar');

    const asAvatar = await setAvatar(alice.user, galleryPhoto);
    expectRefused(asAvatar, 'body.avatar_media_id');
    expect(asAvatar.json().details[0].message).toMatch(/purpose=avatar/);
    expectRefused(await setAvatar(alice.user, document), 'body.avatar_media_id');
    // One wrong id refuses the whole gallery.
    expectRefused(await setGallery(alice.user, [galleryPhoto, avatar]), 'body.media_ids');
    expect(await galleryRows(alice.providerId)).toEqual([]);
    const [service] = (await api('GET', '/provider/services', alice.user)).json().data;
    expectRefused(
      await api('PATCH', `/provider/services/${service.id}`, alice.user, { image_media_id: document }),
      'body.image_media_id',
    );
  });

  it('takes at most 12 gallery photos, each once', async () => {
    const ids = [];
    for (let i = 0; i < 13; i += 1) ids.push(await upload(alice.user, 'gallery'));
    const thirteen = await setGallery(alice.user, ids);
    expect(thirteen.statusCode).toBe(400);
    expect(thirteen.json().details[0].field).toBe('body.media_ids');
    const twice = await setGallery(alice.user, [ids[0] as string, ids[0] as string]);
    expect(twice.statusCode).toBe(400);
    expect(twice.json().details[0].field).toBe('body.media_ids');
    const twelve = await setGallery(alice.user, ids.slice(0, 12));
    expect(twelve.statusCode, twelve.body).toBe(200);
    expect((await page(alice.providerId)).gallery.map((image) => image.id)).toEqual(ids.slice(0, 12));
    expect((await setGallery(alice.user, [])).statusCode).toBe(200);
  });

  it('unlinks a deleted upload everywhere and refreshes the cached pages', async () => {
    const avatar = await upload(alice.user, 'avatar');
    const kept = await upload(alice.user, 'gallery');
    const dropped = await upload(alice.user, 'gallery');
    const picture = await upload(alice.user, 'service');
    await setAvatar(alice.user, avatar);
    await setGallery(alice.user, [dropped, kept]);
    const service = await createService(t.app, alice.user, {
      category_id: categoryId,
      name: 'Photo facial',
      image_media_id: picture,
    });
    // All three answers are cached now.
    expect((await page(alice.providerId)).avatar?.id).toBe(avatar);
    expect((await api('GET', `/services/${service.id}`)).json().data.image.id).toBe(picture);
    const searchUrl = `/services/search?q=photo&provider_id=${alice.providerId}`;
    expect((await api('GET', searchUrl)).json().data[0].image.id).toBe(picture);

    for (const id of [avatar, dropped, picture])
      expect((await api('DELETE', `/media/${id}`, alice.user)).statusCode).toBe(204);

    const shown = await page(alice.providerId);
    expect(shown.avatar).toBeNull();
    expect(shown.gallery.map((image) => image.id)).toEqual([kept]);
    expect(shown.services.find((s) => s.id === service.id)?.image).toBeNull();
    expect((await api('GET', `/services/${service.id}`)).json().data.image).toBeNull();
    expect((await api('GET', searchUrl)).json().data[0].image).toBeNull();
    expect((await providerRow(alice.providerId))?.avatar_media_id).toBeNull();
    expect(await galleryRows(alice.providerId)).toEqual([{ media_id: kept, position: 1 }]);
    // The gallery still takes a full, renumbered list.
    expect((await setGallery(alice.user, [kept])).statusCode).toBe(200);
    expect(await galleryRows(alice.providerId)).toEqual([{ media_id: kept, position: 0 }]);
  });

  it('an upload deleted while it is being linked ends unlinked, never dangling', async () => {
    for (let round = 0; round < 3; round += 1) {
      const avatar = await upload(alice.user, 'avatar');
      const [linked, deleted] = await Promise.all([
        setAvatar(alice.user, avatar),
        api('DELETE', `/media/${avatar}`, alice.user),
      ]);
      expect(deleted.statusCode).toBe(204);
      // Linked first and unlinked by the delete, or refused because the upload was gone.
      expect([200, 400]).toContain(linked.statusCode);
      expect((await providerRow(alice.providerId))?.avatar_media_id).toBeNull();
      expect((await page(alice.providerId)).avatar).toBeNull();
    }
  });

  it('two gallery replacements at once: one wins whole', async () => {
    const a = [await upload(alice.user, 'gallery'), await upload(alice.user, 'gallery')];
    const b = [
      await upload(alice.user, 'gallery'),
      await upload(alice.user, 'gallery'),
      await upload(alice.user, 'gallery'),
    ];
    const answers = await Promise.all([setGallery(alice.user, a), setGallery(alice.user, b)]);
    expect(answers.map((res) => res.statusCode)).toEqual([200, 200]);
    const final = (await galleryRows(alice.providerId)).map((row) => row.media_id);
    expect([a, b]).toContainEqual(final);
    expect((await page(alice.providerId)).gallery.map((image) => image.id)).toEqual(final);
  });

  it("erasing the provider's account deletes their uploads; the pages still answer", async () => {
    const carol = await createProvider(t.app, admin, { display_name: 'Carol Care' });
    const avatar = await upload(carol.user, 'avatar');
    const photos = [await upload(carol.user, 'gallery'), await upload(carol.user, 'gallery')];
    const picture = await upload(carol.user, 'service');
    await setAvatar(carol.user, avatar);
    await setGallery(carol.user, photos);
    const service = await createService(t.app, carol.user, {
      category_id: categoryId,
      name: 'Carol facial',
      image_media_id: picture,
    });
    expect((await page(carol.providerId)).gallery).toHaveLength(2);

    const erased = await api('POST', `/admin/users/${carol.user.id}/erase`, admin, { reason: 'request' });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json().data.modules.media).toMatchObject({ action: 'deleted', rows: 4 });

    const left = await queryRows<{ n: number }>(
      t.app.platform.db,
      sql`select count(*)::int as n from media where user_id = ${carol.user.id}`,
    );
    expect(left[0]?.n).toBe(0);
    expect(await galleryRows(carol.providerId)).toEqual([]);
    expect((await providerRow(carol.providerId))?.avatar_media_id).toBeNull();
    // The profile is kept (rejected) for past bookings: its page is gone, nothing breaks.
    expect((await api('GET', `/providers/${carol.providerId}`)).statusCode).toBe(404);
    expect((await api('GET', `/services/${service.id}`)).statusCode).toBe(404);
    const search = await api('GET', '/services/search?q=facial');
    expect(search.statusCode).toBe(200);
    expect(search.json().data.map((hit: { id: string }) => hit.id)).not.toContain(service.id);
    const adminView = await api('GET', '/admin/providers?verification=rejected', admin);
    expect(adminView.json().data).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: carol.providerId, avatar_media_id: null })]),
    );
  });

  it('only providers manage a gallery; a signed-out visitor cannot', async () => {
    const customer = await createUser(t.app);
    expect((await api('PUT', '/provider/gallery', customer, { media_ids: [] })).statusCode).toBe(403);
    expect((await api('GET', '/provider/gallery', customer)).statusCode).toBe(403);
    expect((await api('PUT', '/provider/gallery', undefined, { media_ids: [] })).statusCode).toBe(401);
    expect((await api('PUT', '/provider/gallery', alice.user, { media_ids: [], extra: 1 })).statusCode).toBe(400);
  });
});
