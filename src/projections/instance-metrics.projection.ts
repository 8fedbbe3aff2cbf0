/** Real-time monitoring samples: one instance_metrics row per event, idempotent on event_id. */
import { sql } from 'kysely'
import type { Projection } from '../log/projection.js'
import { inStatements } from '../db/statement-bytes.js'
import { toDbTime } from '../db/time.js'

// Counters are BIGINT columns; agents may report rates with fractions.
const whole = (n: number | undefined) => (n === undefined ? null : Math.round(n))

export const instanceMetricsProjection: Projection<'instance.metrics'> = {
  name: 'instance-metrics',
  handles: ['instance.metrics'],
  tables: ['instance_metrics'],
  async apply(db, events) {
    await inStatements(events.map((e) => ({
      event_id: e.eventId, client_id: e.clientId, agent_id: e.agentId, instance_id: e.data.instanceId,
      cpu: e.data.cpu.toFixed(2), memory: e.data.memory.toFixed(2),
      network_in: whole(e.data.networkIn), network_out: whole(e.data.networkOut), disk_io: whole(e.data.diskIo),
      recorded_at: toDbTime(e.occurredAt),
    })), (rows) => db.insertInto('instance_metrics').values(rows).onDuplicateKeyUpdate({ event_id: sql`event_id` }).execute())
  },
}
