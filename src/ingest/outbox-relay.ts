/**
 * Publishes what transactions left for Kafka: outbox rows (commands for
 * agents) to `replica-commands`, keyed by agentId, in id order, and dead
 * letters to `<topic>.dlq`. Rows are marked after the broker acknowledged
 * them, so a crash in between re-publishes (at least once; agents dedupe on
 * the command id). One relay at a time holds a named lock, so per-agent order
 * holds with several service instances.
 */
import type { Logger, Producer } from 'kafkajs'
import { type Kysely, sql } from 'kysely'
import type { Database } from '../db/database.js'
import type { Metrics } from '../metrics.js'
import { EVENT_TYPE_HEADER } from '../events/producer.js'
import { sleep } from './retry.js'

export interface OutboxRelayOptions {
  db: Kysely<Database>
  producer: Producer
  commandsTopic: string
  log: Logger
  metrics?: Metrics
  batchSize?: number
  pollMs?: number
  /** Test hook: runs after a publish and before the rows are marked sent. */
  afterPublish?: (ids: number[]) => Promise<void> | void
}

/** Named locks are server-wide: the name carries the database, so each database has its own relay. */
const relayLock = sql`CONCAT('spotfleet_relay:', SHA1(DATABASE()))`

/** Publishes one batch of pending outbox rows and dead letters; returns how many. */
export async function relayOnce(o: OutboxRelayOptions): Promise<number> {
  const limit = o.batchSize ?? 500
  const commands = await o.db.selectFrom('outbox').selectAll().where('sent_at', 'is', null)
    .orderBy('id').limit(limit).execute()
  if (commands.length > 0) {
    await o.producer.send({
      topic: o.commandsTopic,
      acks: -1,
      messages: commands.map((c) => ({ key: c.agent_id, value: c.payload, headers: { [EVENT_TYPE_HEADER]: c.type } })),
    })
    const ids = commands.map((c) => c.id)
    await o.afterPublish?.(ids)
    await o.db.updateTable('outbox').set({ sent_at: sql`CURRENT_TIMESTAMP(3)`, attempts: sql`attempts + 1` })
      .where('id', 'in', ids).execute()
    o.metrics?.outboxSent.inc({}, commands.length)
  }

  const dead = await o.db.selectFrom('dead_letter_events').selectAll().where('published_at', 'is', null)
    .where('topic', 'is not', null).orderBy('id').limit(limit).execute()
  if (dead.length > 0) {
    const byTopic = new Map<string, typeof dead>()
    for (const d of dead) byTopic.set(`${d.topic}.dlq`, [...(byTopic.get(`${d.topic}.dlq`) ?? []), d])
    await o.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, rows]) => ({
        topic,
        messages: rows.map((d) => ({
          key: d.message_key, value: d.raw_value,
          headers: { reason: d.reason, 'original-partition': String(d.partition_no), 'original-offset': String(d.offset_no) },
        })),
      })),
    })
    await o.db.updateTable('dead_letter_events').set({ published_at: sql`CURRENT_TIMESTAMP(3)` })
      .where('id', 'in', dead.map((d) => d.id)).execute()
  }
  return commands.length + dead.length
}

export interface OutboxRelay {
  start(): void
  /** Run soon (a transaction just wrote rows). */
  wake(): void
  stop(): Promise<void>
}

export function createOutboxRelay(o: OutboxRelayOptions): OutboxRelay {
  let running = false
  let woken: (() => void) | undefined
  let loop: Promise<void> | undefined
  const pollMs = o.pollMs ?? 250

  const idle = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    woken = () => { clearTimeout(timer); resolve() }
  })

  async function holdLockAndRelay(): Promise<void> {
    await o.db.connection().execute(async (conn) => {
      const { rows } = await sql<{ got: number | null }>`SELECT GET_LOCK(${relayLock}, 0) AS got`.execute(conn)
      if (Number(rows[0]?.got) !== 1) return
      try {
        while (running) {
          const n = await relayOnce({ ...o, db: conn })
          if (n === 0) await idle(pollMs)
        }
      } finally {
        await sql`SELECT RELEASE_LOCK(${relayLock})`.execute(conn)
      }
    })
  }

  return {
    start() {
      running = true
      loop = (async () => {
        while (running) {
          try {
            await holdLockAndRelay()
            if (running) await idle(pollMs * 4) // another instance holds the lock
          } catch (err) {
            o.log.warn('outbox relay failed; retrying', { error: String(err) })
            await sleep(Math.min(5_000, pollMs * 8))
          }
        }
      })()
    },
    wake: () => woken?.(),
    async stop() {
      running = false
      woken?.()
      await loop
    },
  }
}
