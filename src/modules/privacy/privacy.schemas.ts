import { Type } from '@sinclair/typebox';
import { Nullable, DateTime as Timestamp } from '../../shared/http-schemas.js';

const NullableTimestamp = Nullable(Timestamp);

export const ExportSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('ready'), Type.Literal('failed'), Type.Literal('expired')]),
  requested_at: Timestamp,
  completed_at: NullableTimestamp,
  expires_at: NullableTimestamp,
});

export const ExportWithDocumentSchema = Type.Object({
  ...ExportSchema.properties,
  document: Type.Union([
    Type.Object(
      {
        format: Type.String(),
        generated_at: Timestamp,
        subject: Type.Object({ user_id: Type.String() }),
        rights: Type.String(),
        sections: Type.Record(
          Type.String(),
          Type.Object(
            {
              description: Type.String(),
              purposes: Type.Array(Type.String()),
              legal_basis: Type.String(),
              retention: Type.String(),
              data: Type.Unknown(),
            },
            { additionalProperties: true },
          ),
        ),
      },
      { additionalProperties: true },
    ),
    Type.Null(),
  ]),
});

export const ExportParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const EraseSelfBody = Type.Object(
  { password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

export const AdminEraseBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) },
  { additionalProperties: false },
);

export const ReceiptSchema = Type.Object({
  receipt_id: Type.String({ format: 'uuid', description: 'keep it: it proves the erasure' }),
  erased_at: Timestamp,
  modules: Type.Record(
    Type.String(),
    Type.Object({
      action: Type.Union([Type.Literal('deleted'), Type.Literal('pseudonymised'), Type.Literal('retained')]),
      rows: Type.Integer(),
      note: Type.Optional(Type.String()),
    }),
  ),
});
