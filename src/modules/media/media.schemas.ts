import { Type } from '@sinclair/typebox';
import { literals } from '../../shared/http-schemas.js';
import { VARIANT_SIZES } from './media.images.js';
import { MEDIA_PURPOSES, VARIANT_NAMES, type VariantName } from './media.tables.js';

export const VariantSchema = Type.Object({
  url: Type.String({ description: 'where the file is served; content-addressed, cached for good' }),
  content_type: literals(['image/webp', 'image/avif']),
  width: Type.Integer(),
  height: Type.Integer(),
  bytes: Type.Integer(),
});

const variantList = (name: VariantName) =>
  Type.Array(VariantSchema, {
    description: `at most ${VARIANT_SIZES[name]} px on the longest side; WebP${name === 'card' ? ', then AVIF' : ''}`,
  });

const variantsOf = <const N extends readonly VariantName[]>(names: N) =>
  Type.Object(
    Object.fromEntries(names.map((name) => [name, variantList(name)])) as Record<
      N[number],
      ReturnType<typeof variantList>
    >,
  );

/** An upload as its uploader sees it. */
export const MediaSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  purpose: literals(MEDIA_PURPOSES),
  width: Type.Integer({ description: 'of the upright source image' }),
  height: Type.Integer(),
  source_type: Type.String({ description: 'what the uploaded bytes were (image/jpeg, image/png, …)' }),
  variants: variantsOf(VARIANT_NAMES),
  created_at: Type.String({ format: 'date-time' }),
});

/** A linked image as anyone sees it on a public page: its size and variants, nothing about the upload. */
export const ImageSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    width: Type.Integer({ description: 'of the upright source image' }),
    height: Type.Integer(),
    variants: variantsOf(VARIANT_NAMES),
  },
  { description: 'an image with its thumbnail, card and full variants' },
);

/** What a list shows (search results, a provider's services): the thumbnail and card variants, no full size. */
export const CardImageSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    width: Type.Integer({ description: 'of the upright source image' }),
    height: Type.Integer(),
    variants: variantsOf(['thumbnail', 'card'] as const),
  },
  { description: 'an image with its thumbnail and card variants' },
);
