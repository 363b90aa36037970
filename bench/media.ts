/**
 * `npm run bench:media`: how fast uploaded images are turned into their variants
 * (src/modules/media/media.images.ts, the work of POST /api/v1/media), for a 3000×2000 JPEG of a
 * photo-like picture (noise over a gradient, so the encoders cannot take shortcuts): images a
 * second one at a time and BENCH_MEDIA_CONCURRENCY (2) at a time, over BENCH_MEDIA_IMAGES (12)
 * images after one warm-up; and how much of a too-large upload is read before it is refused
 * (413 at MEDIA_MAX_BYTES, through the app's own route, on an in-process app).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { processImage } from '../src/modules/media/media.images.js';

const images = Number(process.env.BENCH_MEDIA_IMAGES ?? 12);
const concurrency = Number(process.env.BENCH_MEDIA_CONCURRENCY ?? 2);

async function photo(width: number, height: number): Promise<Buffer> {
  const noise = await sharp({
    create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
  })
    .png()
    .toBuffer();
  const gradient = Buffer.from(
    `<svg width="${width}" height="${height}"><defs><linearGradient id="g"><stop offset="0" stop-color="#d35"/><stop offset="1" stop-color="#39c"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`,
  );
  return sharp(gradient)
    .composite([{ input: noise, blend: 'overlay' }])
    .jpeg({ quality: 85 })
    .toBuffer();
}

async function timed(parallel: number, source: Buffer): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < images) {
      next += 1;
      await processImage(source);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return images / ((performance.now() - started) / 1000);
}

const source = await photo(3000, 2000);
process.stdout.write(
  `media: a 3000×2000 JPEG of ${(source.length / 1_048_576).toFixed(2)} MiB, ${images} images, ` +
    `${availableParallelism()} CPUs, libvips threads ${sharp.concurrency()}, load average ${(loadavg()[0] ?? 0).toFixed(2)}\n`,
);
const variants = await processImage(source);
const sizes = Object.entries(variants.variants)
  .map(
    ([name, list]) =>
      `${name} ${list.map((v) => `${v.content_type.slice(6)} ${v.width}×${v.height} ${(v.bytes / 1024).toFixed(0)} KiB`).join(', ')}`,
  )
  .join('; ');
process.stdout.write(`  variants: ${sizes}\n`);
const one = await timed(1, source);
const many = await timed(concurrency, source);
process.stdout.write(`  one at a time: ${one.toFixed(2)} images/s (${(1000 / one).toFixed(0)} ms an image)\n`);
process.stdout.write(`  ${concurrency} at a time: ${many.toFixed(2)} images/s\n`);

// The size limit: a 20 MiB upload against the default 10 MiB, through the route of an in-process
// app on an in-memory database.
const { loadConfig } = await import('../src/config.js');
const { openInfrastructure } = await import('../src/infra/index.js');
const { buildApp } = await import('../src/app.js');
const { createMemoryStore } = await import('../src/infra/kv/memory.js');
const { multipartFile } = await import('../test/helpers/multipart.js');
const mediaDir = await mkdtemp(join(tmpdir(), 'care-bench-media-'));
const config = loadConfig({
  DATA_DIR: 'memory://',
  MEDIA_DIR: mediaDir,
  LOG_LEVEL: 'silent',
  WORKERS_ENABLED: 'false',
  RATE_LIMIT_ENABLED: 'false',
});
const infra = await openInfrastructure(config);
const app = await buildApp({ ...infra, config, kv: createMemoryStore({ now: () => new Date() }) });
try {
  const account = { email: 'bench.media@example.test', password: 'Bench-media-passphrase-1' };
  await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: account });
  const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: account });
  const headers = { authorization: `Bearer ${login.json().data.access_token}` };
  const send = async (body: ReturnType<typeof multipartFile>) => {
    const started = performance.now();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/media',
      headers: { ...headers, ...body.headers },
      payload: body.payload,
    });
    return { response, ms: performance.now() - started };
  };
  const refused = await send(multipartFile(Buffer.concat([source, Buffer.alloc(20 * 1_048_576 - source.length, 1)])));
  const accepted = await send(multipartFile(source));
  process.stdout.write(
    `  limit: a 20 MiB upload → ${refused.response.statusCode} ${refused.response.json().code} in ${refused.ms.toFixed(0)} ms; ` +
      `the 3000×2000 JPEG → ${accepted.response.statusCode} in ${accepted.ms.toFixed(0)} ms (MEDIA_MAX_BYTES ${config.media.maxBytes})\n`,
  );
} finally {
  await app.close();
  await infra.database.close();
  await rm(mediaDir, { recursive: true, force: true });
}
