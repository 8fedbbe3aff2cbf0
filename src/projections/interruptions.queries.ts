/**
 * Read query over spot_interruption_events (each signal with the response the
 * rules chose), newest first in keyset pages, scoped by client.
 */
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { type Cursor, type PageRequest, after, pageOf } from '../db/page.js'
import { isoFromDb } from '../db/time.js'

/** Interruption signals with their response action, the replica used and the timings. */
export async function interruptions(db: Kysely<Database>, clientId: string, page: PageRequest) {
  let q = db.selectFrom('spot_interruption_events').selectAll().where('client_id', '=', clientId)
  if (page.cursor !== undefined) q = q.where(after('detected_at', 'id', page.cursor))
  const rows = await q.orderBy('detected_at', 'desc').orderBy('id', 'desc').limit(page.limit + 1).execute()
  return pageOf(rows, page.limit, (r): Cursor => ({ at: r.detected_at, id: r.id }), (r) => ({
    id: r.id, agentId: r.agent_id, instanceId: r.instance_id, poolId: r.pool_id, signalType: r.signal_type,
    detectedAt: isoFromDb(r.detected_at), terminationTime: isoFromDb(r.termination_time), responseAction: r.response_action,
    replicaId: r.replica_id, responseTimeMs: r.response_time_ms, failoverTimeMs: r.failover_time_ms,
    success: r.success === null ? null : r.success === 1, errorMessage: r.error_message,
  }))
}
