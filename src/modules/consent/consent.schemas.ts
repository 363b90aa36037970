import { Type } from '@sinclair/typebox';
import { idPageQuery } from '../../shared/http-schemas.js';
import { CONSENT_PURPOSES } from './consent.tables.js';

export const Purpose = Type.Union(
  CONSENT_PURPOSES.map((purpose) => Type.Literal(purpose)),
  { description: 'whatsapp | sms | marketing | analytics | data_processing' },
);

export const PurposeParams = Type.Object({ purpose: Purpose });

export const ConsentStateSchema = Type.Object({
  purpose: Purpose,
  granted: Type.Boolean(),
  notice_version: Type.Union([Type.Integer(), Type.Null()], { description: 'the notice version last answered' }),
  current_notice_version: Type.Integer(),
  needs_renewal: Type.Boolean({ description: 'granted under an older notice; counts as not given until renewed' }),
  updated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const SetConsentBody = Type.Object({ granted: Type.Boolean() }, { additionalProperties: false });

export const ConsentRecordSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  purpose: Purpose,
  granted: Type.Boolean(),
  notice_version: Type.Integer(),
  source: Type.String({ description: 'signup | user | admin' }),
  created_at: Type.String({ format: 'date-time' }),
});

export const HistoryQuery = Type.Object(
  {
    ...idPageQuery(50),
  },
  { additionalProperties: false },
);

export const NoticeSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  purpose: Purpose,
  version: Type.Integer(),
  title: Type.String(),
  body: Type.String(),
  published_at: Type.String({ format: 'date-time' }),
});

export const PublishNoticeBody = Type.Object(
  {
    purpose: Purpose,
    title: Type.String({ minLength: 1, maxLength: 200 }),
    body: Type.String({ minLength: 1, maxLength: 20_000 }),
  },
  { additionalProperties: false },
);
