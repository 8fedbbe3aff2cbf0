/**
 * instance_switches: one row per switch, from the agent's own report
 * (agent.instance_switched) or from the service's decision (failover after a
 * signal, or a user's promotion), keyed on that event's id.
 *
 * Modes: every pool is a spot pool, so the new instance runs in spot mode,
 * and so did the old one when it had a pool; the events say no more.
 */
import { sql } from 'kysely'
import type { NewInstanceSwitch } from '../db/database.js'
import { inStatements } from '../db/statement-bytes.js'
import { toDbTime } from '../db/time.js'
import type { Projection } from '../log/projection.js'
import type { StoredOf } from '../log/stored-event.js'

type Handled = 'agent.instance_switched' | 'decision.failover_executed' | 'decision.replica_promoted'

function row(e: StoredOf<Handled>): NewInstanceSwitch {
  const base = { event_id: e.eventId, client_id: e.clientId, agent_id: e.agentId, new_mode: 'spot' as const, switched_at: toDbTime(e.occurredAt) }
  const d = e.data
  const prices = { on_demand_price: d.onDemandPrice, new_spot_price: d.newSpotPrice, old_spot_price: d.oldSpotPrice }
  if (e.type === 'agent.instance_switched') {
    return {
      ...base, ...prices, old_instance_id: e.data.oldInstanceId, new_instance_id: e.data.newInstanceId,
      old_pool_id: e.data.oldPoolId, new_pool_id: e.data.newPoolId, old_mode: 'spot', event_trigger: e.data.trigger, reason: e.data.trigger,
    }
  }
  const failover = e.type === 'decision.failover_executed'
  return {
    ...base, ...prices, old_instance_id: e.data.oldInstanceId, new_instance_id: e.data.newInstanceId,
    old_pool_id: e.data.oldPoolId, new_pool_id: e.data.newPoolId, old_mode: e.data.oldPoolId === null ? null : 'spot',
    event_trigger: failover ? e.data.signalType : 'user',
    reason: failover ? 'automatic-interruption-failover' : 'manual-replica-promotion',
  }
}

export const switchesProjection: Projection<Handled> = {
  name: 'switches',
  handles: ['agent.instance_switched', 'decision.failover_executed', 'decision.replica_promoted'],
  tables: ['instance_switches'],
  replayIdempotentKeys: ['uq_instance_switches_event'],
  async apply(db, events) {
    await inStatements(events.map(row), (chunk) => db.insertInto('instance_switches').values(chunk).onDuplicateKeyUpdate({ event_id: sql`event_id` }).execute())
  },
}
