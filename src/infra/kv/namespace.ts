import type { Db } from '../db/client.js';
import { deployment } from '../db/meta.tables.js';

/**
 * The default Redis namespace, `care:<deployment id>:`, from the id the database keeps (written
 * once by a migration). Every instance on one database shares it; another database, even on the
 * same Redis, has its own, so no cache, counter, lock or channel crosses between them.
 */
export async function deploymentKeyPrefix(db: Db): Promise<string> {
  const [row] = await db.select({ id: deployment.id }).from(deployment).limit(1);
  if (!row) {
    throw new Error(
      'the database has no deployment id (a migration writes it): apply the migrations, or set REDIS_KEY_PREFIX',
    );
  }
  return `care:${row.id}:`;
}
