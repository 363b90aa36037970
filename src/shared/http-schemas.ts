import { type TSchema, Type } from '@sinclair/typebox';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';

export const ErrorResponse = Type.Object(
  {
    success: Type.Literal(false),
    message: Type.String(),
    code: Type.String({ description: 'stable error code, see the README' }),
    correlation_id: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { $id: 'ErrorResponse', title: 'ErrorResponse' },
);

/** `{ success: true, data }`, the envelope of every successful JSON response. */
export const Success = <T extends TSchema>(data: T, meta?: TSchema) =>
  Type.Object(meta ? { success: Type.Literal(true), data, meta } : { success: Type.Literal(true), data });

// Statuses any route can answer with: rate limit, overload, server error.
const ALWAYS: ErrorCode[] = ['RATE_LIMITED', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'];

/** Response schemas for the error statuses a route documents, plus those every route may return. */
export function errorResponses(...codes: ErrorCode[]): Record<number, typeof ErrorRef> {
  const out: Record<number, typeof ErrorRef> = {};
  for (const code of [...codes, ...ALWAYS]) out[ERROR_STATUS[code]] = ErrorRef;
  return out;
}

export const ErrorRef = Type.Ref(ErrorResponse);
