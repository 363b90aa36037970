import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config.js';

/** Where variants' bytes live, by content-addressed key (`<sha256>.<ext>`). */
export interface MediaStore {
  readonly kind: 'disk' | 's3';
  put(key: string, bytes: Buffer, contentType: string): Promise<void>;
  /** The bytes, or undefined when there is no such object. */
  get(key: string): Promise<Buffer | undefined>;
  delete(key: string): Promise<void>;
  /** Throws when the store cannot be reached (health). */
  ping(): Promise<void>;
}

/** Keys are made by the service (hex digest + extension); anything else is never a path. */
export const MEDIA_KEY = /^[0-9a-f]{64}\.(webp|avif)$/;

/** Files under MEDIA_DIR, two levels of directories by the key's first characters. */
export function createDiskStore(dir: string): MediaStore {
  const pathOf = (key: string) => join(dir, key.slice(0, 2), key);
  return {
    kind: 'disk',
    async put(key, bytes) {
      const path = pathOf(key);
      await mkdir(join(dir, key.slice(0, 2)), { recursive: true });
      // Written aside and renamed: a reader never sees half a file.
      const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(temporary, bytes);
      await rename(temporary, path);
    },
    async get(key) {
      try {
        return await readFile(pathOf(key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
    async ping() {
      await mkdir(dir, { recursive: true });
    },
  };
}

/**
 * An S3 bucket through AWS SDK v3, at AWS or any S3-compatible endpoint. The SDK is loaded on first
 * use, so an app that keeps media on disk never loads it.
 */
export function createS3Store(s3: NonNullable<Config['media']['s3']>): MediaStore {
  let loading: Promise<{ client: import('@aws-sdk/client-s3').S3Client; sdk: typeof import('@aws-sdk/client-s3') }>;
  const sdk = () => {
    loading ??= import('@aws-sdk/client-s3').then((module) => ({
      sdk: module,
      client: new module.S3Client({
        region: s3.region,
        ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
        forcePathStyle: s3.forcePathStyle,
        ...(s3.accessKeyId && s3.secretAccessKey
          ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
          : {}),
        maxAttempts: 3,
      }),
    }));
    return loading;
  };
  return {
    kind: 's3',
    async put(key, bytes, contentType) {
      const {
        client,
        sdk: { PutObjectCommand },
      } = await sdk();
      await client.send(
        new PutObjectCommand({
          Bucket: s3.bucket,
          Key: key,
          Body: bytes,
          ContentType: contentType,
          CacheControl: 'public, max-age=31536000, immutable',
        }),
      );
    },
    async get(key) {
      const {
        client,
        sdk: { GetObjectCommand },
      } = await sdk();
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
        return answer.Body ? Buffer.from(await answer.Body.transformToByteArray()) : undefined;
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
    async delete(key) {
      const {
        client,
        sdk: { DeleteObjectCommand },
      } = await sdk();
      await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
    },
    async ping() {
      const {
        client,
        sdk: { HeadBucketCommand },
      } = await sdk();
      await client.send(new HeadBucketCommand({ Bucket: s3.bucket }));
    },
  };
}
