import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError } from '../../errors.js';
import { requireAuth } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, Success } from '../../shared/http-schemas.js';
import { medicalFields } from './medical-fields.js';
import { ProfileBody, ProfileSchema } from './profiles.schemas.js';
import type { ProfilesService } from './profiles.service.js';

const PROFILE_EXAMPLE = {
  birth_year: 1990,
  gender: 'female',
  country: 'GB',
  region: 'Greater London',
  diet_preference: 'vegetarian',
  activity_level: 'moderate',
  preferred_language: 'en',
};

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
        description:
          'Your lifestyle profile (age or birth year, gender, country, region, diet, activity, language), how complete it is and which fields are missing.',
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
        description:
          'Stores exactly the fields sent and clears the others. Fields that look like medical data (diagnosis, history, prescriptions, test results) are refused with 400 MEDICAL_DATA_NOT_COLLECTED. Answers the profile and its completion.',
        tags,
        summary: 'Replace your profile (fields left out are cleared); medical data is refused',
        body: { ...ProfileBody, examples: [PROFILE_EXAMPLE] },
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
        description:
          'Changes only the fields sent; `null` clears a field. Fields that look like medical data are refused with 400 MEDICAL_DATA_NOT_COLLECTED. Answers the profile and its completion; your plans follow the change.',
        tags,
        summary: 'Change some profile fields (null clears one); medical data is refused',
        body: { ...ProfileBody, examples: [{ country: 'GB', activity_level: 'moderate', diet_preference: null }] },
        response: { ...writeErrors, 200: Success(ProfileSchema) },
      },
    },
    async (request) => ({ success: true, data: await profiles.update(actorOf(request), request.body) }),
  );
};
