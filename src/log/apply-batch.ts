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
 * Appends consumed events to event_log and returns the ids stored before
 * (a re-delivered message) or by another transaction first (the same event
 * arriving on two partitions at once: the later INSERT waits for the earlier
 * one's commit). The unique event_id refuses the chunk; that statement alone
 * is undone (the transaction and its locks stay), the chunk's ids are read
 * (READ COMMITTED: the winner's row is visible now) and the rest is inserted
 * again: a duplicate, never a refusal.
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
  return (await applyBatches(db, [batch], pipeline, opts))[0]!
}

const EMPTY: Omit<ApplyResult, 'lastOffset' | 'skipped'> = { applied: [], produced: [], duplicates: 0, deadLettered: 0 }

/**
 * Several partitions' messages in one transaction (the consumer gathers what
 * its fetches brought, so a transaction's fixed cost is paid once for all of
 * them): each partition's checkpoint locked (in key order) and advanced, and
 * all of their events through the core together. An agent's events share a
 * partition within a topic, so each partition's order is all the order there
 * is. One result per batch, in the order given (a batch must not repeat a partition).
 */
export async function applyBatches(db: Kysely<Database>, batches: readonly PartitionBatch[], pipeline: Pipeline, opts: ApplyOptions = {}): Promise<ApplyResult[]> {
  const maxBytes = opts.maxStatementBytes ?? DEFAULT_STATEMENT_BYTES
  if (batches.every((b) => b.messages.length === 0)) return batches.map(() => ({ ...EMPTY, lastOffset: null, skipped: 0 }))

  // READ COMMITTED: under REPEATABLE READ the plain SELECT on event_log below
  // would fix the read view before the handlers lock their rows (the agents),
  // and their plain reads (live replicas, recent signals) would then miss what
  // the previous holder of the lock committed, and write a stale state back.
  return db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    await passGate(trx)
    const checkpoints = await lockCheckpoints(trx, batches.filter((b) => b.messages.length > 0))
    const parts = batches.map((b) => {
      const checkpoint = checkpoints.get(key(b.topic, b.partition))
      const fresh = checkpoint === undefined ? [] : b.messages.filter((m) => BigInt(m.offset) > checkpoint)
      const part: Part = { batch: b, checkpoint, fresh, dead: [], parsed: [], applied: [], duplicates: 0 }
      return part
    })

    for (const p of parts) {
      const { topic, partition } = p.batch
      for (const m of p.fresh) {
        const r = parseMessage(m.value)
        if (r.ok) p.parsed.push({ event: r.event, message: m, part: p })
        else p.dead.push(deadLetter(topic, partition, m, r.reason, maxBytes))
      }
    }
    const parsed = parts.flatMap((p) => p.parsed)

    // Repeated within this transaction: a duplicate. One stored before is found by the append (appendEvents: the
    // unique event_id refuses it, the chunk's stored ids are read and the rest inserted again); reading every id
    // first cost a statement per 500 events for what a re-delivered message alone needs.
    const seen = new Set<string>()
    const candidates = parsed.filter((p) => {
      if (seen.has(p.event.eventId)) { p.part.duplicates++; return false }
      seen.add(p.event.eventId)
      return true
    }).map((p) => ({ ...p, row: logRowOf(p.event, 'kafka', { position: { topic: p.part.batch.topic, partition: p.part.batch.partition, offset: p.message.offset } }) }))
    const fits = candidates.filter((p) => {
      const bytes = rowBytes(p.row)
      if (bytes <= maxBytes) return true
      p.part.dead.push({ ...deadLetter(p.part.batch.topic, p.part.batch.partition, p.message, `too large to store: the event is ${bytes} bytes, the database takes ${maxBytes} in one statement`, maxBytes), event_id: p.event.eventId, event_type: p.event.type })
      return false
    })
    await lockDeciders(trx, pipeline, fits.map((p) => p.event))
    const storedElsewhere = await appendEvents(trx, fits.map((p) => p.row), maxBytes)
    const newOnes = fits.filter((p) => {
      if (!storedElsewhere.has(p.event.eventId)) return true
      p.part.duplicates++
      return false
    })

    const out = await applyAppended(trx, newOnes.map((p) => p.event), pipeline, maxBytes)
    for (const p of newOnes) {
      p.part.applied.push(p.event)
      const reason = out.verdicts.get(p.event.eventId)?.rejection
      if (reason !== undefined) p.part.dead.push({ ...deadLetter(p.part.batch.topic, p.part.batch.partition, p.message, reason, maxBytes), event_id: p.event.eventId, event_type: p.event.type })
    }
    await writeDeadLetters(trx, parts.flatMap((p) => p.dead), maxBytes)
    await advanceCheckpoints(trx, parts.filter((p) => p.fresh.length > 0).map((p) => ({ topic: p.batch.topic, partition: p.batch.partition, offset: p.fresh.at(-1)!.offset })))

    // What an input caused goes with its partition; what a released parked input caused, with the registration's.
    const causeOf = new Map(newOnes.map((p) => [p.event.eventId, p.part]))
    const firstFresh = parts.find((p) => p.fresh.length > 0)
    const ownerOf = (cause: string) => causeOf.get(cause) ?? firstFresh
    return parts.map((p) => {
      const skipped = p.batch.messages.length - p.fresh.length
      if (p.fresh.length === 0) return { ...EMPTY, lastOffset: p.checkpoint === undefined ? null : String(p.checkpoint), skipped }
      const produced = parts.length === 1 ? out.produced : out.produced.filter((x) => ownerOf(x.cause) === p)
      return { lastOffset: p.fresh.at(-1)!.offset, applied: p.applied, produced, duplicates: p.duplicates, deadLettered: p.dead.length, skipped }
    })
  })
}

interface Part {
  batch: PartitionBatch
  checkpoint: bigint | undefined
  fresh: RawMessage[]
  dead: DeadLetterRow[]
  parsed: Parsed[]
  applied: SpotEvent[]
  duplicates: number
}
interface Parsed { event: SpotEvent, message: RawMessage, part: Part }

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`

/** Locks the partitions' checkpoint rows (one read; the missing ones created first), in key order so two transactions never wait in a cycle. */
async function lockCheckpoints(trx: Transaction<Database>, batches: readonly PartitionBatch[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>()
  if (batches.length === 0) return out
  const wanted = [...new Map(batches.map((b) => [key(b.topic, b.partition), b])).values()]
    .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
  const read = () => trx.selectFrom('consumer_checkpoints').select(['topic', 'partition_no', 'offset_no'])
    .where((eb) => eb.or(wanted.map((b) => eb.and([eb('topic', '=', b.topic), eb('partition_no', '=', b.partition)]))))
    .orderBy('topic').orderBy('partition_no').forUpdate().execute()
  let rows = await read()
  if (rows.length < wanted.length) {
    // First batch of a partition. Under READ COMMITTED a missing row takes no
    // gap lock, so two owners may both get here: IGNORE lets the second one wait
    // on the first one's row and then read (and lock) it.
    const have = new Set(rows.map((r) => key(r.topic, r.partition_no)))
    await trx.insertInto('consumer_checkpoints').orIgnore()
      .values(wanted.filter((b) => !have.has(key(b.topic, b.partition))).map((b) => ({ topic: b.topic, partition_no: b.partition, offset_no: -1 }))).execute()
    rows = await read()
  }
  for (const r of rows) out.set(key(r.topic, r.partition_no), BigInt(r.offset_no))
  return out
}

/** One statement for all the partitions' new checkpoints. */
async function advanceCheckpoints(trx: Transaction<Database>, to: readonly { topic: string, partition: number, offset: string }[]): Promise<void> {
  if (to.length === 0) return
  if (to.length === 1) {
    await trx.updateTable('consumer_checkpoints').set({ offset_no: to[0]!.offset })
      .where('topic', '=', to[0]!.topic).where('partition_no', '=', to[0]!.partition).execute()
    return
  }
  // The rows exist and are locked (lockCheckpoints): the upsert only updates.
  await trx.insertInto('consumer_checkpoints').values(to.map((c) => ({ topic: c.topic, partition_no: c.partition, offset_no: c.offset })))
    .onDuplicateKeyUpdate({ offset_no: sql`VALUES(offset_no)` }).execute()
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
