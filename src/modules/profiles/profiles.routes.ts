import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError } from '../../errors.js';
import { requireAuth } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, Success } from '../../shared/http-schemas.js';
import { medicalFields } from './medical-fields.js';
import { ProfileBody, ProfileSchema } from './profiles.schemas.js';
import type { ProfilesService } from './profiles.service.js';

export const profilesRoutes: FastifyPluginAsyncTypebox<{ profiles: ProfilesService }> = async (app, { profiles }) => {
  const tags = ['profile'];
  const writeErrors = errorResponses('VALIDATION_ERROR', 'MEDICAL_DATA_NOT_COLLECTED');

  // Before schema validation, so a medical field gets its own answer rather than "not accepted".
  const refuseMedicalData = async (request: { body: unknown }) => {
    const fields = medicalFields(request.body);
    if (fields.length > 0) {
      throw new AppError(
        'MEDICAL_DATA_NOT_COLLECTED',
        'We never collect medical data (diagnoses, history, prescriptions, test results, symptoms): your profile holds lifestyle facts only',
        { details: fields.map((field) => ({ field, message: 'is medical data, which is not collected' })) },
      );
    }
  };

  app.get(
    '/me/profile',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'profiles.getProfile',
        tags,
        summary: 'Your lifestyle profile and how complete it is',
        response: { ...errorResponses(), 200: Success(ProfileSchema) },
      },
    },
    async (request) => ({ success: true, data: await profiles.get(actorOf(request)) }),
  );

  app.put(
    '/me/profile',
    {
      config: { access: requireAuth() },
      preValidation: refuseMedicalData,
      schema: {
        operationId: 'profiles.replaceProfile',
        tags,
        summary: 'Replace your profile (fields left out are cleared); medical data is refused',
        body: ProfileBody,
        response: { ...writeErrors, 200: Success(ProfileSchema) },
      },
    },
    async (request) => ({ success: true, data: await profiles.replace(actorOf(request), request.body) }),
  );

  app.patch(
    '/me/profile',
    {
      config: { access: requireAuth() },
      preValidation: refuseMedicalData,
      schema: {
        operationId: 'profiles.updateProfile',
        tags,
        summary: 'Change some profile fields (null clears one); medical data is refused',
        body: ProfileBody,
        response: { ...writeErrors, 200: Success(ProfileSchema) },
      },
    },
    async (request) => ({ success: true, data: await profiles.update(actorOf(request), request.body) }),
  );
};
