import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { multipartFile } from '../helpers/multipart.js';
import { createUser, type TestUser } from '../helpers/users.js';

/**
 * The S3 path against a local S3-compatible server (s3rver, on 127.0.0.1, files in a temp dir):
 * the same uploads, serving, sharing and deletion as on disk, through AWS SDK v3.
 */
describe('media in an S3 bucket (S3_BUCKET, S3_ENDPOINT)', () => {
  let server: S3rver;
  let dir: string;
  let endpoint: string;
  let t: TestApp;
  let user: TestUser;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'care-s3-'));
    server = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: 'care-media', configs: [] }],
    });
    const address = (await server.run()) as AddressInfo;
    endpoint = `http://127.0.0.1:${address.port}`;
    t = await buildTestApp({
      env: {
        S3_BUCKET: 'care-media',
        S3_ENDPOINT: endpoint,
        S3_ACCESS_KEY_ID: 'S3RVER',
        S3_SECRET_ACCESS_KEY: 'S3RVER',
        HEALTH_TOKEN: 'health-token-for-the-s3-test',
      },
    });
    user = await createUser(t.app);
  });
  afterAll(async () => {
    await t?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores the variants in the bucket, serves them, and deletes them with the upload', async () => {
    const image = await sharp({ create: { width: 900, height: 600, channels: 3, background: '#246' } })
      .jpeg()
      .toBuffer();
    const { payload, headers } = multipartFile(image);
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/media?purpose=service',
      headers: { ...user.headers, ...headers },
      payload,
    });
    expect(created.statusCode, created.body).toBe(201);
    const full = created.json().data.variants.full[0];
    const key = String(full.url).split('/').pop() as string;

    // In the bucket itself, with the immutable cache header for whoever serves it from there.
    const direct = await fetch(`${endpoint}/care-media/${key}`);
    expect(direct.status).toBe(200);
    expect(direct.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(Buffer.from(await direct.arrayBuffer()).length).toBe(full.bytes);

    const served = await t.app.inject({ method: 'GET', url: full.url });
    expect(served.statusCode).toBe(200);
    expect((await sharp(served.rawPayload).metadata()).width).toBe(900);

    const health = await t.app.inject({
      url: '/api/health',
      headers: { authorization: 'Bearer health-token-for-the-s3-test' },
    });
    expect(health.json().services.media_store).toMatchObject({ status: 'up', kind: 's3' });

    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/media/${created.json().data.id}`,
      headers: user.headers,
    });
    expect(deleted.statusCode).toBe(204);
    expect((await fetch(`${endpoint}/care-media/${key}`)).status).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: full.url })).statusCode).toBe(404);
  });
});
