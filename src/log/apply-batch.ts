/**
 * Applies one partition's messages to the database in one transaction:
 * checkpoint lock, parse, event_log append (idempotent on event_id), handlers,
 * outbox, dead letters, checkpoint advance. Exported apart from the Kafka
 * wiring so tests and replays can call it directly.
 *
 * The stored checkpoint is the truth: messages at or below it are skipped
 * under its row lock, so a stale Kafka offset or two consumers that briefly
 * share a partition cost a re-read, never a second application.
 */
import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database, NewDeadLetterEvent, NewEventLog } from '../db/database.js'
import { parseMessage } from '../events/parse.js'
import type { SpotEvent } from '../events/schemas.js'
import { chunkByBytes, DEFAULT_STATEMENT_BYTES, rowBytes } from '../db/statement-bytes.js'
import { type Pipeline, applyAppended, lockDeciders } from './core.js'
import { CHUNK, type Produced, insertChunked, loggedEventIds } from './event-log.js'
import { passGate } from './gate.js'
import { logRowOf } from './stored-event.js'

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


export interface ApplyOptions {
  /** The largest statement the server takes (readStatementBytes); rows are cut by bytes as well as by CHUNK. */
  maxStatementBytes?: number
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

const isDuplicateEventId = (err: unknown) =>
  (err as { errno?: unknown } | null)?.errno === 1062 && /uq_event_log_event/.test(String((err as Error).message))

/**
 * Appends consumed events to event_log and returns the ids another
 * transaction stored first. The same event arriving on two partitions at once
 * passes both transactions' existence check; the later INSERT then waits for
 * the earlier one's commit and fails on the unique event_id. That statement
 * alone is undone (the transaction and its locks stay), the ids are read
 * again (READ COMMITTED: the winner's row is visible now) and the rest is
 * inserted again: a duplicate, never a refusal.
 */
async function appendEvents(trx: Transaction<Database>, rows: NewEventLog[], maxBytes: number): Promise<Set<string>> {
  const lost = new Set<string>()
  for (let chunk of chunkByBytes(rows, CHUNK, maxBytes, rowBytes)) {
    while (chunk.length > 0) {
      try {
        await trx.insertInto('event_log').values(chunk).execute()
        break
      } catch (err) {
        if (!isDuplicateEventId(err)) throw err
        const stored = await loggedEventIds(trx, chunk.map((r) => r.event_id))
        if (stored.size === 0) throw err
        for (const id of stored) lost.add(id)
        chunk = chunk.filter((r) => !stored.has(r.event_id))
      }
    }
  }
  return lost
}

export async function applyBatch(db: Kysely<Database>, batch: PartitionBatch, pipeline: Pipeline, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const { topic, partition, messages } = batch
  const maxBytes = opts.maxStatementBytes ?? DEFAULT_STATEMENT_BYTES
  const last = messages.at(-1)
  if (!last) return { lastOffset: null, applied: [], produced: [], duplicates: 0, deadLettered: 0, skipped: 0 }

  // READ COMMITTED: under REPEATABLE READ the plain SELECT on event_log below
  // would fix the read view before the handlers lock their rows (the agents),
  // and their plain reads (live replicas, recent signals) would then miss what
  // the previous holder of the lock committed, and write a stale state back.
  return db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    await passGate(trx)
    const checkpoint = await lockCheckpoint(trx, topic, partition)
    const fresh = messages.filter((m) => BigInt(m.offset) > checkpoint)
    const skipped = messages.length - fresh.length
    if (fresh.length === 0) return { lastOffset: String(checkpoint), applied: [], produced: [], duplicates: 0, deadLettered: 0, skipped }

    const dead: DeadLetterRow[] = []
    const parsed: { event: SpotEvent, message: RawMessage }[] = []
    for (const m of fresh) {
      const r = parseMessage(m.value)
      if (r.ok) parsed.push({ event: r.event, message: m })
      else dead.push(deadLetter(topic, partition, m, r.reason, maxBytes))
    }

    // Stored before, or repeated within this batch: a duplicate either way.
    const seen = await loggedEventIds(trx, parsed.map((p) => p.event.eventId))
    const candidates = parsed.filter((p) => {
      if (seen.has(p.event.eventId)) return false
      seen.add(p.event.eventId)
      return true
    }).map((p) => ({ ...p, row: logRowOf(p.event, 'kafka', { position: { topic, partition, offset: p.message.offset } }) }))
    const fits = candidates.filter((p) => {
      const bytes = rowBytes(p.row)
      if (bytes <= maxBytes) return true
      dead.push({ ...deadLetter(topic, partition, p.message, `too large to store: the event is ${bytes} bytes, the database takes ${maxBytes} in one statement`, maxBytes), event_id: p.event.eventId, event_type: p.event.type })
      return false
    })
    await lockDeciders(trx, pipeline, fits.map((p) => p.event))
    const storedElsewhere = await appendEvents(trx, fits.map((p) => p.row), maxBytes)
    const newOnes = fits.filter((p) => !storedElsewhere.has(p.event.eventId))

    const events = newOnes.map((p) => p.event)
    const out = await applyAppended(trx, events, pipeline, maxBytes)
    for (const p of newOnes) {
      const reason = out.verdicts.get(p.event.eventId)?.rejection
      if (reason !== undefined) dead.push({ ...deadLetter(topic, partition, p.message, reason, maxBytes), event_id: p.event.eventId, event_type: p.event.type })
    }
    await writeDeadLetters(trx, dead, maxBytes)

    const lastOffset = fresh.at(-1)!.offset
    await trx.updateTable('consumer_checkpoints').set({ offset_no: lastOffset })
      .where('topic', '=', topic).where('partition_no', '=', partition).execute()
    return { lastOffset, applied: events, produced: out.produced, duplicates: parsed.length - candidates.length + storedElsewhere.size, deadLettered: dead.length, skipped }
  })
}

/** The first `max` bytes of `s`, cut on a character boundary. */
function utf8Prefix(s: string, max: number): string {
  const b = Buffer.from(s)
  return b.length <= max ? s : b.subarray(0, max).toString('utf8').replace(/\uFFFD$/, '')
}

// message_key is VARBINARY(1024), reason TEXT (65,535 bytes), raw_value MEDIUMBLOB (16 MiB):
// a dead letter must always fit, or the partition could never move past it. A
// raw value is kept up to the column and up to one statement of this server
// (a bigger row could not be read back either); beyond that the reason says so.
const RAW_COLUMN = 16 * 1024 * 1024 - 1

type DeadLetterRow = NewDeadLetterEvent & { topic: string, partition_no: number, offset_no: string }

function deadLetter(topic: string, partition: number, m: RawMessage, reason: string, maxBytes: number): DeadLetterRow {
  const keep = m.value !== null && m.value.length <= Math.min(RAW_COLUMN, maxBytes)
  const why = keep || m.value === null ? reason
    : `${utf8Prefix(reason, 50_000)}; raw value of ${m.value.length} bytes not kept: larger than the column or one statement of this database (${Math.min(RAW_COLUMN, maxBytes)} bytes)`
  return {
    topic, partition_no: partition, offset_no: m.offset, message_key: m.key && m.key.subarray(0, 1024),
    raw_value: keep ? m.value : null, event_id: null, event_type: null, reason: utf8Prefix(why, 60_000),
  }
}

/**
 * Writes dead letters in statements cut by bytes. A raw value too big for one
 * statement (mysql2 sends it as hex, twice its size) is written in pieces
 * appended to its row. On a position seen before (a partition started again
 * from 0, see checkpoint resets), the row describes the new message.
 */
async function writeDeadLetters(trx: Transaction<Database>, rows: DeadLetterRow[], maxBytes: number): Promise<void> {
  const insert = (c: NewDeadLetterEvent[]) => trx.insertInto('dead_letter_events').values(c).onDuplicateKeyUpdate({
    message_key: sql`VALUES(message_key)`, raw_value: sql`VALUES(raw_value)`, event_id: sql`VALUES(event_id)`,
    event_type: sql`VALUES(event_type)`, reason: sql`VALUES(reason)`, published_at: null, publish_refused_at: null, publish_error: null,
  }).execute()
  const big = rows.filter((r) => rowBytes(r) > maxBytes)
  await insertChunked(rows.filter((r) => !big.includes(r)), maxBytes, insert)
  const piece = Math.max(4096, Math.floor((maxBytes - 64 * 1024) / 2))
  for (const r of big) {
    const raw = r.raw_value ?? Buffer.alloc(0)
    await insert([{ ...r, raw_value: raw.subarray(0, piece) }])
    for (let at = piece; at < raw.length; at += piece) {
      await trx.updateTable('dead_letter_events').set({ raw_value: sql`CONCAT(raw_value, ${raw.subarray(at, at + piece)})` })
        .where('topic', '=', r.topic).where('partition_no', '=', r.partition_no).where('offset_no', '=', sql<number>`${r.offset_no}`).execute()
    }
  }
}

/**
 * Dead-letters one message that the database itself refuses (a value no
 * retry can store), and moves the checkpoint past it.
 */
export async function deadLetterRefused(db: Kysely<Database>, topic: string, partition: number, m: RawMessage, reason: string, maxBytes = DEFAULT_STATEMENT_BYTES): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const checkpoint = await lockCheckpoint(trx, topic, partition)
    if (BigInt(m.offset) <= checkpoint) return
    await writeDeadLetters(trx, [deadLetter(topic, partition, m, `database refused: ${reason}`, maxBytes)], maxBytes)
    await trx.updateTable('consumer_checkpoints').set({ offset_no: m.offset })
      .where('topic', '=', topic).where('partition_no', '=', partition).execute()
  })
}
