import { randomBytes } from 'node:crypto';

/** A multipart/form-data body with one file part, as a browser's form sends it. */
export function multipartFile(bytes: Buffer, filename = 'photo.jpg', type = 'image/jpeg') {
  const boundary = `----care${randomBytes(8).toString('hex')}`;
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`,
    ),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
