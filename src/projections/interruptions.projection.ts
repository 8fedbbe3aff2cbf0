/**
 * spot_interruption_events: one row per recorded signal (the rules'
 * decision.signal_recorded, keyed on the signal's event id), and the failover
 * time once the agent reports the replica promoted.
 */
import { sql } from 'kysely'
import type { NewSpotInterruptionEvent } from '../db/database.js'
import { inStatements } from '../db/statement-bytes.js'
import { toDbTime } from '../db/time.js'
import type { Projection } from '../log/projection.js'
import type { StoredOf } from '../log/stored-event.js'

function row(d: StoredOf<'decision.signal_recorded'>): NewSpotInterruptionEvent {
  const x = d.data
  return {
    event_id: d.causeEventId, client_id: d.clientId, agent_id: d.agentId, instance_id: x.instanceId, pool_id: x.poolId,
    signal_type: x.signalType, detected_at: toDbTime(x.detectedAt),
    termination_time: x.terminationTime === null ? null : toDbTime(x.terminationTime), response_action: x.responseAction,
    // NULL until the agent reports the replica promoted (below).
    replica_id: x.replicaId, response_time_ms: x.responseTimeMs, failover_time_ms: null,
    success: x.success ? 1 : 0, error_message: x.error, clock_skew_ms: x.clockSkewMs,
  }
}

export const interruptionsProjection: Projection<'decision.signal_recorded' | 'replica.promoted'> = {
  name: 'interruptions',
  handles: ['decision.signal_recorded', 'replica.promoted'],
  tables: ['spot_interruption_events'],
  replayIdempotentKeys: ['uq_interruption_event'],
  readIndexes: ['idx_interruption_replica'],
  async apply(db, events) {
    const rows: NewSpotInterruptionEvent[] = []
    const promoted: StoredOf<'replica.promoted'>[] = []
    for (const e of events) {
      if (e.type === 'decision.signal_recorded') rows.push(row(e))
      else promoted.push(e)
    }
    if (rows.length > 0) {
      await inStatements(rows, (chunk) => db.insertInto('spot_interruption_events').values(chunk).onDuplicateKeyUpdate({ event_id: sql`event_id` }).execute())
    }
    // A failover is complete when the agent reports the replica promoted: the
    // row's failover_time_ms is the signal's time to that report, saturated to
    // the INT column (a signal from a 1970 clock must not refuse the report).
    // One statement per batch, through idx_interruption_replica.
    if (promoted.length > 0) {
      const at = new Map(promoted.map((p) => [p.data.replicaId, toDbTime(p.occurredAt)]))
      const reported = sql`CAST(CASE replica_id ${sql.join([...at].map(([id, t]) => sql`WHEN ${id} THEN ${t}`), sql` `)} END AS DATETIME(3))`
      await db.updateTable('spot_interruption_events')
        .set({ failover_time_ms: sql`LEAST(2147483647, GREATEST(0, ROUND(TIMESTAMPDIFF(MICROSECOND, detected_at, ${reported}) / 1000)))` })
        .where('replica_id', 'in', [...at.keys()]).where('response_action', '=', 'failover').execute()
    }
  },
}
