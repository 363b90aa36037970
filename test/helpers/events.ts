import type { FastifyInstance } from 'fastify';

/** The user's analytics pseudonym (product events carry this, never the id); throws when there is none. */
export async function subjectOf(app: FastifyInstance, userId: string): Promise<string> {
  const subject = await app.platform.services.analytics.subjectOf(userId);
  if (!subject) throw new Error(`no analytics subject for ${userId}`);
  return subject;
}
