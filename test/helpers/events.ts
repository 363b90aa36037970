import type { FastifyInstance } from 'fastify';

/** Her analytics pseudonym (product events carry this, never her id); throws when she has none. */
export async function subjectOf(app: FastifyInstance, userId: string): Promise<string> {
  const subject = await app.platform.services.analytics.subjectOf(userId);
  if (!subject) throw new Error(`no analytics subject for ${userId}`);
  return subject;
}
