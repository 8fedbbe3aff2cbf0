/**
 * Operator read queries over the whole service: fleet counts, and the log's
 * and the consumer's positions (what a replay status shows until the replay
 * command reports its own progress).
 */
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { isoFromDb, toDbTime } from '../db/time.js'

/** An agent counts as online when it was heard from within this window. */
export const ONLINE_WINDOW_MS = 5 * 60_000

export async function fleetStats(db: Kysely<Database>, now = new Date()) {
  const online = toDbTime(new Date(now.getTime() - ONLINE_WINDOW_MS))
  const day = toDbTime(new Date(now.getTime() - 86_400_000))
  const count = (n: unknown) => Number(n ?? 0)
  const [clients, agents, replicas, signals, parked, outbox, events] = await Promise.all([
    db.selectFrom('clients').select((eb) => [eb.fn.countAll<number>().as('n'), sql<number>`COALESCE(SUM(is_active), 0)`.as('active')]).executeTakeFirstOrThrow(),
    db.selectFrom('agents').select((eb) => [eb.fn.countAll<number>().as('n'), sql<number>`COALESCE(SUM(last_heartbeat_at >= ${online}), 0)`.as('online')]).executeTakeFirstOrThrow(),
    db.selectFrom('replica_instances').select((eb) => eb.fn.countAll<number>().as('n')).where('status', 'in', ['launching', 'syncing', 'ready']).executeTakeFirstOrThrow(),
    db.selectFrom('spot_interruption_events').where('detected_at', '>=', day)
      .select((eb) => [eb.fn.countAll<number>().as('n'), sql<number>`COALESCE(SUM(response_action = 'failover'), 0)`.as('failovers')]).executeTakeFirstOrThrow(),
    db.selectFrom('dead_letter_events').select((eb) => eb.fn.countAll<number>().as('n')).where('resolved_at', 'is', null).executeTakeFirstOrThrow(),
    db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('sent_at', 'is', null).executeTakeFirstOrThrow(),
    db.selectFrom('event_log').select((eb) => eb.fn.max('seq').as('last')).executeTakeFirstOrThrow(),
  ])
  return {
    clients: count(clients.n), activeClients: count(clients.active), agents: count(agents.n), agentsOnline: count(agents.online),
    liveReplicas: count(replicas.n), interruptionsLast24h: count(signals.n), failoversLast24h: count(signals.failovers),
    deadLettersParked: count(parked.n), outboxPending: count(outbox.n), lastLogSeq: count(events.last),
  }
}

/** Where the log and each consumed partition stand. */
export async function logPositions(db: Kysely<Database>) {
  const [last, checkpoints] = await Promise.all([
    db.selectFrom('event_log').select(['seq', 'recorded_at']).orderBy('seq', 'desc').limit(1).executeTakeFirst(),
    db.selectFrom('consumer_checkpoints').selectAll().orderBy('topic').orderBy('partition_no').execute(),
  ])
  return {
    lastLogSeq: last?.seq ?? 0, lastRecordedAt: isoFromDb(last?.recorded_at ?? null),
    checkpoints: checkpoints.map((c) => ({ topic: c.topic, partition: c.partition_no, offset: String(c.offset_no), updatedAt: isoFromDb(c.updated_at) })),
  }
}
