/**
 * 020: agents.price_at, the occurredAt of the event that set the agent's mode
 * and prices. Until now instance_at covered them too, so a termination notice
 * (which names the instance and pool but carries no price) hid every older
 * heartbeat's price: the same events in another cross-topic order ended with
 * another spot_price. Instance facts and price facts now keep their own times.
 *
 * Only an addition to agents, read from information_schema. Existing rows
 * take their instance_at: that is when their prices were last set or older.
 */
import { type Kysely, sql } from 'kysely'
import { recordVersion } from '../schema-kit.js'

export async function up(db: Kysely<any>): Promise<void> {
  const r = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'agents' AND COLUMN_NAME = 'price_at'`.execute(db)
  if (Number(r.rows[0]?.n) === 0) {
    await sql.raw(`ALTER TABLE agents ADD COLUMN price_at DATETIME(3) NULL COMMENT 'occurredAt of the event that set mode and prices'`).execute(db)
    await sql`UPDATE agents SET price_at = instance_at`.execute(db)
  }
  await recordVersion(db, '020', 'agent price facts keep their own time')
}
