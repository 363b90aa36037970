import { sql } from 'drizzle-orm';
import type { Seeder } from '../../infra/db/seed.js';
import { uuidv7 } from '../../infra/ids.js';
import { users } from '../identity/identity.tables.js';
import { consentNotices, consentRecords, consents } from './consent.tables.js';

/**
 * Demo accounts get what signup records for everyone: `data_processing` under the current
 * notice. The demo user also opted in to WhatsApp reminders, so reminders work out of the box.
 */
export const consentSeeder: Seeder = {
  name: 'consent: signup consent for demo accounts, WhatsApp opt-in for the demo user',
  async run(db) {
    const grants: { email: string; purpose: 'data_processing' | 'whatsapp' }[] = [
      { email: 'admin@demo.care', purpose: 'data_processing' },
      { email: 'user@demo.care', purpose: 'data_processing' },
      { email: 'provider@demo.care', purpose: 'data_processing' },
      { email: 'user@demo.care', purpose: 'whatsapp' },
    ];
    const now = new Date();
    for (const grant of grants) {
      const [row] = await db
        .select({
          userId: users.id,
          version: sql<number>`(select coalesce(max(${consentNotices.version}), 1) from ${consentNotices} where ${consentNotices.purpose} = ${grant.purpose})`,
          existing: sql<number>`(select count(*) from ${consents} where ${consents.userId} = ${users.id} and ${consents.purpose} = ${grant.purpose})`,
        })
        .from(users)
        .where(sql`${users.email} = ${grant.email}`)
        .limit(1);
      if (!row || Number(row.existing) > 0) continue;
      const version = Number(row.version);
      const source = grant.purpose === 'data_processing' ? 'signup' : 'user';
      await db.insert(consentRecords).values({
        id: uuidv7(),
        userId: row.userId,
        purpose: grant.purpose,
        granted: true,
        noticeVersion: version,
        source,
        ip: null,
        createdAt: now,
      });
      await db
        .insert(consents)
        .values({ userId: row.userId, purpose: grant.purpose, granted: true, noticeVersion: version, updatedAt: now });
    }
  },
};
