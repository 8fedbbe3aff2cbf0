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
import { chunkByBytes } from '../db/statement-bytes.js'
import type { ApplyResult } from '../log/apply-batch.js'

export interface OutboxRelayOptions {
  db: Kysely<Database>
  producer: Producer
  commandsTopic: string
  log: Logger
  metrics?: Metrics
  batchSize?: number
  pollMs?: number
  /** The largest record the broker takes (its message.max.bytes; Kafka's default is 1 MB). */
  maxMessageBytes?: number
  /** The largest produce request the relay sends (a broker refuses or drops bigger ones). */
  maxRequestBytes?: number
  /** Test hook: runs after a publish and before the rows are marked sent. */
  afterPublish?: (ids: number[]) => Promise<void> | void
}

/** Kafka's message.max.bytes is 1,048,588: both limits stay under it with room for the request's framing. */
export const DEFAULT_MESSAGE_BYTES = 1_000_000
export const DEFAULT_REQUEST_BYTES = 1_000_000
/** A record's framing: length, attributes, delta varints, header counts. */
const RECORD_OVERHEAD = 64

/** Named locks are server-wide: the name carries the database, so each database has its own relay. */
const relayLock = sql`CONCAT('spotfleet_relay:', SHA1(DATABASE()))`

const byteLength = (v: string | Buffer | null) => (v === null ? 0 : Buffer.byteLength(v))

/** Broker answers that say this record will never be taken, however often it is sent. */
const REFUSALS = new Set([
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED', 'POLICY_VIOLATION', 'INVALID_REQUEST',
])

/** The broker's refusal in a kafkajs error chain (a non-retriable error wraps the protocol error as its cause). */
export function brokerRefusal(err: unknown, depth = 0): string | undefined {
  if (!(err instanceof Error) || depth > 4) return undefined
  const e = err as Error & { type?: unknown, cause?: unknown, errors?: unknown }
  if (typeof e.type === 'string' && REFUSALS.has(e.type)) return `${e.type}: ${e.message}`
  if (Array.isArray(e.errors)) {
    for (const x of e.errors) {
      const r = brokerRefusal(x, depth + 1)
      if (r) return r
    }
  }
  return brokerRefusal(e.cause, depth + 1)
}

/** Publishes pending outbox rows (in id order, requests cut by bytes) and then dead letters; returns how many. */
export async function relayOnce(o: OutboxRelayOptions): Promise<number> {
  return (await relayCommands(o)) + (await relayDeadLetters(o))
}

async function relayCommands(o: OutboxRelayOptions): Promise<number> {
  const limit = o.batchSize ?? 500
  const commands = await o.db.selectFrom('outbox').selectAll().where('sent_at', 'is', null)
    .orderBy('id').limit(limit).execute()
  const size = (c: (typeof commands)[number]) => byteLength(c.agent_id) + byteLength(c.payload) + EVENT_TYPE_HEADER.length + c.type.length + RECORD_OVERHEAD
  // Commands are small and bounded by their schemas; they are never skipped, so per-agent order holds.
  for (const chunk of chunkByBytes(commands, limit, o.maxRequestBytes ?? DEFAULT_REQUEST_BYTES, size)) {
    await o.producer.send({
      topic: o.commandsTopic,
      acks: -1,
      messages: chunk.map((c) => ({ key: c.agent_id, value: c.payload, headers: { [EVENT_TYPE_HEADER]: c.type } })),
    })
    const ids = chunk.map((c) => c.id)
    await o.afterPublish?.(ids)
    await o.db.updateTable('outbox').set({ sent_at: sql`CURRENT_TIMESTAMP(3)`, attempts: sql`attempts + 1` })
      .where('id', 'in', ids).execute()
    o.metrics?.outboxSent.inc({}, chunk.length)
  }
  return commands.length
}

/**
 * Dead letters to `<topic>.dlq`. Their sizes are read first (a raw value can
 * be megabytes), so a request never holds more than maxRequestBytes; a dead
 * letter bigger than maxMessageBytes, or one the broker refuses, is marked
 * with the refusal and the others go on.
 */
async function relayDeadLetters(o: OutboxRelayOptions): Promise<number> {
  const limit = o.batchSize ?? 500
  const maxMessage = o.maxMessageBytes ?? DEFAULT_MESSAGE_BYTES
  const pending = await o.db.selectFrom('dead_letter_events')
    .select(['id', sql<number>`COALESCE(LENGTH(message_key), 0) + COALESCE(LENGTH(raw_value), 0) + LENGTH(reason) + 64`.as('bytes')])
    .where('published_at', 'is', null).where('publish_refused_at', 'is', null).where('topic', 'is not', null)
    .orderBy('id').limit(limit).execute()
  const sized = pending.map((d) => ({ id: d.id, bytes: Number(d.bytes) + RECORD_OVERHEAD }))
  const tooBig = sized.filter((d) => d.bytes > maxMessage)
  for (const d of tooBig) await markRefused(o, [d.id], `larger than the broker's message limit: ${d.bytes} > ${maxMessage} bytes`)
  const fit = sized.filter((d) => d.bytes <= maxMessage)
  for (const chunk of chunkByBytes(fit, limit, o.maxRequestBytes ?? DEFAULT_REQUEST_BYTES, (d) => d.bytes)) {
    await publishDeadLetters(o, chunk.map((d) => d.id))
  }
  return pending.length
}

/** Sends one request of dead letters; on a refusal, halves it until the refused one is alone and marked. */
async function publishDeadLetters(o: OutboxRelayOptions, ids: number[]): Promise<void> {
  const rows = await o.db.selectFrom('dead_letter_events').selectAll().where('id', 'in', ids).orderBy('id').execute()
  const byTopic = new Map<string, typeof rows>()
  for (const d of rows) byTopic.set(`${d.topic}.dlq`, [...(byTopic.get(`${d.topic}.dlq`) ?? []), d])
  try {
    await o.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, list]) => ({
        topic,
        messages: list.map((d) => ({
          key: d.message_key, value: d.raw_value,
          headers: { reason: d.reason, 'original-partition': String(d.partition_no), 'original-offset': String(d.offset_no) },
        })),
      })),
    })
  } catch (err) {
    const refusal = brokerRefusal(err)
    if (refusal === undefined) throw err
    if (ids.length === 1) return markRefused(o, ids, refusal)
    const mid = Math.ceil(ids.length / 2)
    await publishDeadLetters(o, ids.slice(0, mid))
    return publishDeadLetters(o, ids.slice(mid))
  }
  await o.db.updateTable('dead_letter_events').set({ published_at: sql`CURRENT_TIMESTAMP(3)` })
    .where('id', 'in', ids).execute()
}

async function markRefused(o: OutboxRelayOptions, ids: number[], refusal: string): Promise<void> {
  o.log.error('dead letter refused by the broker; marked and not retried', { ids, refusal })
  o.metrics?.deadLettersRefused.inc({}, ids.length)
  await o.db.updateTable('dead_letter_events').set({ publish_refused_at: sql`CURRENT_TIMESTAMP(3)`, publish_error: refusal.slice(0, 10_000) })
    .where('id', 'in', ids).execute()
}

/**
 * Whether an applied batch left rows for the relay (commands in the outbox,
 * dead letters): only then is it worth waking. Waking it after every
 * transaction cost two reads of the outbox and of the dead letters each
 * time, as many statements as the live stream's transactions themselves;
 * the dead letters only when there are new ones (`wake(deadLetters)`).
 */
export const leftForRelay = (r: Pick<ApplyResult, 'produced' | 'deadLettered'>): boolean =>
  r.deadLettered > 0 || r.produced.some((p) => p.event.type.startsWith('command.'))

export interface OutboxRelay {
  start(): void
  /** Holds the relay lock now: this instance is the one publishing (several instances, one relay). */
  isHolder(): boolean
  /**
   * Run soon (a transaction just wrote rows); never lost, even when the relay
   * is busy. `deadLetters` false: it wrote commands only, so the dead letters
   * are not read this time (they still are at least every poll interval, for
   * the other instances' ones).
   */
  wake(deadLetters?: boolean): void
  stop(): Promise<void>
}

/** A wait that wake() ends at once; a wake() while nothing waits makes the next wait return at once. */
function wakeableWait() {
  let pending = false
  let release: (() => void) | undefined
  return {
    wait: (ms: number) => new Promise<void>((resolve) => {
      if (pending) {
        pending = false
        return resolve()
      }
      const done = () => { clearTimeout(timer); release = undefined; resolve() }
      const timer = setTimeout(done, ms)
      release = done
    }),
    wake() {
      if (release) release()
      else pending = true
    },
  }
}

export function createOutboxRelay(o: OutboxRelayOptions): OutboxRelay {
  let running = false
  let holding = false
  let loop: Promise<void> | undefined
  const pollMs = o.pollMs ?? 250
  const waiter = wakeableWait()
  /** A wake asked for the dead letters; when they were last read. */
  let deadLettersAsked = true
  let deadLettersReadAt = 0

  async function holdLockAndRelay(): Promise<void> {
    await o.db.connection().execute(async (conn) => {
      const { rows } = await sql<{ got: number | null }>`SELECT GET_LOCK(${relayLock}, 0) AS got`.execute(conn)
      if (Number(rows[0]?.got) !== 1) return
      holding = true
      try {
        while (running) {
          const withDeadLetters = deadLettersAsked || Date.now() - deadLettersReadAt >= pollMs
          let n = await relayCommands({ ...o, db: conn })
          if (withDeadLetters) {
            deadLettersAsked = false
            deadLettersReadAt = Date.now()
            n += await relayDeadLetters({ ...o, db: conn })
          }
          // Fewer than a full read: nothing more was pending then, and what a transaction left since woke the waiter.
          if (n < (o.batchSize ?? 500)) await waiter.wait(pollMs)
        }
      } finally {
        holding = false
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
            if (running) await waiter.wait(pollMs * 4) // another instance holds the lock
          } catch (err) {
            o.log.warn('outbox relay failed; retrying', { error: String(err) })
            await waiter.wait(Math.min(5_000, pollMs * 8))
          }
        }
      })()
    },
    isHolder: () => holding,
    wake(deadLetters = true) {
      if (deadLetters) deadLettersAsked = true
      waiter.wake()
    },
    async stop() {
      running = false
      waiter.wake()
      await loop
    },
  }
}
