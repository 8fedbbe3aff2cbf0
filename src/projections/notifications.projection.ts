/**
 * notifications: what the console's bell shows, folded from the log. A
 * termination notice (and how it was answered), a failover, an emergency
 * snapshot, a manual replica that waits for a pool. Keyed by the decision's
 * event id, so a replay rebuilds the same rows; whether one was read lives
 * in notification_reads, which a replay does not touch. An agent gone silent
 * (decision.agent_offline, from the offline sweep) too. Dead letters are not
 * in the log: the queries (notifications.queries.ts) read them from
 * dead_letter_events.
 */
import { sql } from 'kysely'
import type { NewNotification } from '../db/database.js'
import { toDbTime } from '../db/time.js'
import type { Projection } from '../log/projection.js'
import type { StoredOf } from '../log/stored-event.js'

type Handled = 'decision.signal_recorded' | 'decision.failover_executed' | 'decision.emergency_snapshot_requested' | 'decision.replica_unavailable'
  | 'decision.agent_offline'
const MESSAGE_MAX = 512

function notification(e: StoredOf<Handled>): NewNotification | null {
  // The id is the kind and the decision's event id: the same on a replay (recorded decisions keep their ids).
  const row = (kind: string, severity: 'info' | 'warning' | 'error', message: string) => ({
    id: `${kind}:${e.eventId}`, client_id: e.clientId, agent_id: e.agentId, occurred_at: toDbTime(e.occurredAt),
    kind, severity, message: message.slice(0, MESSAGE_MAX),
  })
  switch (e.type) {
    case 'decision.signal_recorded':
      return e.data.signalType === 'termination-notice'
        ? row('termination-notice', 'warning', `Termination notice for ${e.data.instanceId} in ${e.data.poolId}: ${e.data.responseAction}`)
        : null
    case 'decision.failover_executed':
      return row('failover', 'info', `Failover: ${e.data.oldInstanceId ?? 'the instance'} replaced by replica ${e.data.newInstanceId} in ${e.data.newPoolId}`)
    case 'decision.emergency_snapshot_requested':
      return row('emergency-snapshot', 'error', `No replica could take over ${e.data.instanceId}: emergency snapshot requested`)
    case 'decision.replica_unavailable':
      return row('replica-pending', 'warning', `${e.data.replicaType} replica pending: ${e.data.reason}`)
    case 'decision.agent_offline':
      return row('agent-offline', 'warning', `Agent went silent: nothing heard for ${e.data.offlineSeconds} s (last at ${e.data.lastSeenAt})`)
  }
}

export const notificationsProjection: Projection<Handled> = {
  name: 'notifications',
  handles: ['decision.signal_recorded', 'decision.failover_executed', 'decision.emergency_snapshot_requested', 'decision.replica_unavailable', 'decision.agent_offline'],
  tables: ['notifications'],
  async apply(db, events) {
    const rows = events.map(notification).filter((r): r is NewNotification => r !== null)
    if (rows.length > 0) await db.insertInto('notifications').values(rows).onDuplicateKeyUpdate({ id: sql`id` }).execute()
  },
}
