/**
 * Applies one partition's messages to the database in one transaction:
 * checkpoint lock, parse, duplicates skipped (idempotent on event_id), the
 * core (core.ts: log, deciders, projections, decisions, outbox), dead letters,
 * checkpoint advance. Exported apart from the Kafka
 * wiring so tests and replays can call it directly.
 *
 * The stored checkpoint is the truth: messages at or below it are skipped
 * under its row lock, so a stale Kafka offset or two consumers that briefly
 * share a partition cost a re-read, never a second application.
 */
import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database, NewDeadLetterEvent } from '../db/database.js'
import { parseMessage } from '../events/parse.js'
import type { SpotEvent } from '../events/schemas.js'
import { type Pipeline, applyInputs, lockDeciders } from './core.js'
import { type Produced, insertChunked, loggedEventIds } from './event-log.js'

export interface RawMessage {
  offset: string
  key: Buffer | null
  value: Buffer | null
}

export interface PartitionBatch {
  topic: string
  partition: number
  messages: readonly RawMessage[]
}

export interface ApplyResult {
  /** Highest offset now covered by the checkpoint (null when the batch was empty). */
  lastOffset: string | null
  applied: SpotEvent[]
  /** What the deciders produced (decisions and commands), typed. */
  produced: readonly Produced[]
  duplicates: number
  deadLettered: number
  /** At or below the stored checkpoint: applied before. */
  skipped: number
}

async function lockCheckpoint(trx: Transaction<Database>, topic: string, partition: number): Promise<bigint> {
  const read = () => trx.selectFrom('consumer_checkpoints').select('offset_no')
    .where('topic', '=', topic).where('partition_no', '=', partition).forUpdate().executeTakeFirst()
  const row = await read()
  if (row) return BigInt(row.offset_no)
  // First batch of this partition. Under READ COMMITTED a missing row takes no
  // gap lock, so two owners may both get here: IGNORE lets the second one wait
  // on the first one's row and then read (and lock) it.
  await trx.insertInto('consumer_checkpoints').orIgnore().values({ topic, partition_no: partition, offset_no: -1 }).execute()
  return BigInt((await read())!.offset_no)
}

export async function applyBatch(db: Kysely<Database>, batch: PartitionBatch, pipeline: Pipeline): Promise<ApplyResult> {
  const { topic, partition, messages } = batch
  const last = messages.at(-1)
  if (!last) return { lastOffset: null, applied: [], produced: [], duplicates: 0, deadLettered: 0, skipped: 0 }

  // READ COMMITTED: under REPEATABLE READ the plain SELECT on event_log below
  // would fix the read view before the handlers lock their rows (the agents),
  // and their plain reads (live replicas, recent signals) would then miss what
  // the previous holder of the lock committed, and write a stale state back.
  return db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    const checkpoint = await lockCheckpoint(trx, topic, partition)
    const fresh = messages.filter((m) => BigInt(m.offset) > checkpoint)
    const skipped = messages.length - fresh.length
    if (fresh.length === 0) return { lastOffset: String(checkpoint), applied: [], produced: [], duplicates: 0, deadLettered: 0, skipped }

    const dead: NewDeadLetterEvent[] = []
    const parsed: { event: SpotEvent, message: RawMessage }[] = []
    for (const m of fresh) {
      const r = parseMessage(m.value)
      if (r.ok) parsed.push({ event: r.event, message: m })
      else dead.push(deadLetter(topic, partition, m, r.reason))
    }

    // Stored before, or repeated within this batch: a duplicate either way.
    const seen = await loggedEventIds(trx, parsed.map((p) => p.event.eventId))
    const newOnes = parsed.filter((p) => {
      if (seen.has(p.event.eventId)) return false
      seen.add(p.event.eventId)
      return true
    })
    const events = newOnes.map((p) => p.event)
    await lockDeciders(trx, pipeline, events)
    const out = await applyInputs(trx, newOnes.map((p) => ({
      event: p.event, source: 'kafka' as const, position: { topic, partition, offset: p.message.offset },
    })), pipeline)
    for (const p of newOnes) {
      const reason = out.verdicts.get(p.event.eventId)?.rejection
      if (reason !== undefined) dead.push({ ...deadLetter(topic, partition, p.message, reason), event_id: p.event.eventId, event_type: p.event.type })
    }
    await writeDeadLetters(trx, dead)

    const lastOffset = fresh.at(-1)!.offset
    await trx.updateTable('consumer_checkpoints').set({ offset_no: lastOffset })
      .where('topic', '=', topic).where('partition_no', '=', partition).execute()
    return { lastOffset, applied: events, produced: out.produced, duplicates: parsed.length - newOnes.length, deadLettered: dead.length, skipped }
  })
}

/** The first `max` bytes of `s`, cut on a character boundary. */
function utf8Prefix(s: string, max: number): string {
  const b = Buffer.from(s)
  return b.length <= max ? s : b.subarray(0, max).toString('utf8').replace(/\uFFFD$/, '')
}

// message_key is VARBINARY(1024), reason TEXT (65,535 bytes), raw_value MEDIUMBLOB (16 MiB):
// a dead letter must always fit, or the partition could never move past it.
function deadLetter(topic: string, partition: number, m: RawMessage, reason: string): NewDeadLetterEvent {
  return {
    topic, partition_no: partition, offset_no: m.offset, message_key: m.key && m.key.subarray(0, 1024),
    raw_value: m.value && m.value.length < 16 * 1024 * 1024 ? m.value : null,
    event_id: null, event_type: null, reason: utf8Prefix(reason, 60_000),
  }
}

async function writeDeadLetters(trx: Transaction<Database>, rows: NewDeadLetterEvent[]): Promise<void> {
  await insertChunked(rows, (c) => trx.insertInto('dead_letter_events').values(c)
    .onDuplicateKeyUpdate({ reason: sql`VALUES(reason)` }).execute())
}

/**
 * Dead-letters one message that the database itself refuses (a value no
 * retry can store), and moves the checkpoint past it.
 */
export async function deadLetterRefused(db: Kysely<Database>, topic: string, partition: number, m: RawMessage, reason: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const checkpoint = await lockCheckpoint(trx, topic, partition)
    if (BigInt(m.offset) <= checkpoint) return
    await writeDeadLetters(trx, [deadLetter(topic, partition, m, `database refused: ${reason}`)])
    await trx.updateTable('consumer_checkpoints').set({ offset_no: m.offset })
      .where('topic', '=', topic).where('partition_no', '=', partition).execute()
  })
}
