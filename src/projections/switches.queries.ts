/**
 * Read query over instance_switches (switches and failovers), newest first in
 * keyset pages, scoped by client.
 */
import { type Kysely, sql } from 'kysely'
import type { Database, InstanceSwitchRow } from '../db/database.js'
import { type Cursor, type PageRequest, after, pageOf } from '../db/page.js'
import { isoFromDb } from '../db/time.js'

const num = (d: string | null): number | null => (d === null ? null : Number(d))

/**
 * Switch history as the UI's table reads it. `instanceId` is the instance the
 * switch put in place (the old one when the new is unknown); `?instance_id=`
 * matches either side, so an instance's panel shows how it came and went.
 */
export async function switchHistory(db: Kysely<Database>, clientId: string, page: PageRequest & { instanceId?: string | undefined }) {
  let q = db.selectFrom('instance_switches').selectAll().where('client_id', '=', clientId)
  if (page.instanceId !== undefined) {
    const id = page.instanceId
    q = q.where((eb) => eb.or([eb('old_instance_id', '=', id), eb('new_instance_id', '=', id)]))
  }
  if (page.cursor !== undefined) q = q.where(after('switched_at', 'id', page.cursor))
  const rows = await q.orderBy('switched_at', 'desc').orderBy('id', 'desc').limit(page.limit + 1).execute()
  return pageOf(rows, page.limit, (r): Cursor => ({ at: r.switched_at, id: r.id }), (r) => ({
    id: r.id, timestamp: isoFromDb(r.switched_at), instanceId: r.new_instance_id ?? r.old_instance_id,
    oldInstanceId: r.old_instance_id, newInstanceId: r.new_instance_id, agentId: r.agent_id,
    fromMode: r.old_mode, toMode: r.new_mode, fromPool: r.old_pool_id, toPool: r.new_pool_id,
    trigger: r.event_trigger ?? r.reason, reason: r.reason,
    // Numbers, never null: the UI formats both unconditionally. 0 where a price is unknown.
    price: num(r.new_mode === 'on-demand' ? r.on_demand_price : r.new_spot_price) ?? 0,
    savingsImpact: num(r.savings_impact) ?? hourlyImpact(r),
  }))
}

/** The hourly price difference the switch made (old − new), when the row has no stored impact. */
function hourlyImpact(r: InstanceSwitchRow): number {
  const old = num(r.old_mode === 'on-demand' ? r.on_demand_price : r.old_spot_price)
  const now = num(r.new_mode === 'on-demand' ? r.on_demand_price : r.new_spot_price)
  return old === null || now === null ? 0 : Math.round((old - now) * 1e6) / 1e6
}

/**
 * Switches and failovers per UTC day over the last `days` days (today
 * included), every day present (0 when none), oldest first.
 */
export async function switchFrequency(db: Kysely<Database>, clientId: string, days = 30, now = new Date()) {
  const y = now.getUTCFullYear(), m = now.getUTCMonth(), d = now.getUTCDate()
  const dates = Array.from({ length: days }, (_, i) => new Date(Date.UTC(y, m, d - days + 1 + i)).toISOString().slice(0, 10))
  const rows = await db.selectFrom('instance_switches')
    .select([sql<string>`CAST(DATE(switched_at) AS CHAR)`.as('date'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('client_id', '=', clientId).where('switched_at', '>=', `${dates[0]} 00:00:00`)
    .groupBy(sql`DATE(switched_at)`).execute()
  const counts = new Map(rows.map((r) => [r.date, Number(r.n)]))
  return dates.map((date) => ({ date, switches: counts.get(date) ?? 0 }))
}
