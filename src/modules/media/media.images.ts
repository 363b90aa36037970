import { createHash } from 'node:crypto';
import type { StoredVariant, VariantName } from './media.tables.js';

/** The image types accepted, told by their first bytes (what the client says is not trusted). */
const SIGNATURES: { type: string; matches: (head: Buffer) => boolean }[] = [
  { type: 'image/jpeg', matches: (head) => head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff },
  {
    type: 'image/png',
    matches: (head) => head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  },
  {
    type: 'image/webp',
    matches: (head) => head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP',
  },
  {
    type: 'image/avif',
    matches: (head) => head.toString('latin1', 4, 8) === 'ftyp' && /^avi[fs]$/.test(head.toString('latin1', 8, 12)),
  },
];
export const ACCEPTED_TYPES = SIGNATURES.map((signature) => signature.type);

/** The image type the bytes are, or undefined when they are none of the accepted ones. */
export function sniffImageType(bytes: Buffer): string | undefined {
  return SIGNATURES.find((signature) => signature.matches(bytes))?.type;
}

/** The longest side of each variant; smaller images are not enlarged. */
export const VARIANT_SIZES: Record<VariantName, number> = { thumbnail: 200, card: 640, full: 1600 };
/** Larger inputs are refused before decoding (a small file can claim huge dimensions). */
export const MAX_INPUT_PIXELS = 40_000_000;

export interface Rendition extends StoredVariant {
  data: Buffer;
}

export interface ProcessedImage {
  width: number;
  height: number;
  variants: Record<VariantName, Rendition[]>;
}

export class UnreadableImageError extends Error {
  override name = 'UnreadableImageError';
}

const contentKey = (data: Buffer, extension: string) =>
  `${createHash('sha256').update(data).digest('hex')}.${extension}`;

/**
 * Decodes the image once, turns it upright by its EXIF orientation and renders each variant as
 * WebP (and the card as AVIF too, for browsers that take it). Nothing of the source's metadata is
 * written (sharp drops EXIF, GPS, XMP and ICC unless asked to keep them); colours are converted to
 * sRGB first.
 */
export async function processImage(bytes: Buffer): Promise<ProcessedImage> {
  const { default: sharp } = await import('sharp');
  let source: import('sharp').Sharp;
  let width: number;
  let height: number;
  try {
    source = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' }).rotate().toColourspace('srgb');
    const metadata = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
    // Orientations 5–8 swap the sides.
    const swapped = (metadata.orientation ?? 1) >= 5;
    width = (swapped ? metadata.height : metadata.width) ?? 0;
    height = (swapped ? metadata.width : metadata.height) ?? 0;
    if (!width || !height) throw new Error('no dimensions');
  } catch (error) {
    throw new UnreadableImageError(`not a readable image: ${(error as Error).message}`);
  }
  const render = async (size: number, format: 'webp' | 'avif'): Promise<Rendition> => {
    const pipeline = source.clone().resize({ width: size, height: size, fit: 'inside', withoutEnlargement: true });
    const encoded = format === 'webp' ? pipeline.webp({ quality: 80 }) : pipeline.avif({ quality: 50, effort: 2 });
    try {
      const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
      return {
        key: contentKey(data, format),
        content_type: `image/${format}`,
        width: info.width,
        height: info.height,
        bytes: data.length,
        data,
      };
    } catch (error) {
      throw new UnreadableImageError(`not a readable image: ${(error as Error).message}`);
    }
  };
  const [thumbnail, card, cardAvif, full] = await Promise.all([
    render(VARIANT_SIZES.thumbnail, 'webp'),
    render(VARIANT_SIZES.card, 'webp'),
    render(VARIANT_SIZES.card, 'avif'),
    render(VARIANT_SIZES.full, 'webp'),
  ]);
  return { width, height, variants: { thumbnail: [thumbnail], card: [card, cardAvif], full: [full] } };
}
