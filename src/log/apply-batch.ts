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
import type { Database, NewDeadLetterEvent, NewEventLog, NewOutbox } from '../db/database.js'
import { parseMessage } from '../events/parse.js'
import type { SpotEvent } from '../events/schemas.js'
import { type BatchContext, type CommandEvent, type DecisionEntry, type EventHandler, lockForHandlers } from './pipeline.js'
import { toDbTime } from '../db/time.js'
import { chunkByBytes, DEFAULT_STATEMENT_BYTES, rowBytes } from '../db/statement-bytes.js'

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
  /** event_log rows the handlers decided (decisions and commands). */
  decided: NewEventLog[]
  duplicates: number
  deadLettered: number
  /** At or below the stored checkpoint: applied before. */
  skipped: number
}

const CHUNK = 500

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

async function existingEventIds(trx: Transaction<Database>, ids: string[]): Promise<Set<string>> {
  const found = new Set<string>()
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await trx.selectFrom('event_log').select('event_id')
      .where('event_id', 'in', ids.slice(i, i + CHUNK)).execute()
    for (const r of rows) found.add(r.event_id)
  }
  return found
}

async function insertChunked<T extends object>(rows: T[], maxBytes: number, insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (const chunk of chunkByBytes(rows, CHUNK, maxBytes, rowBytes)) await insert(chunk)
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
        const stored = await existingEventIds(trx, chunk.map((r) => r.event_id))
        if (stored.size === 0) throw err
        for (const id of stored) lost.add(id)
        chunk = chunk.filter((r) => !stored.has(r.event_id))
      }
    }
  }
  return lost
}

function logRow(e: SpotEvent, source: string, position?: { topic: string, partition: number, offset: string }): NewEventLog {
  return {
    event_id: e.eventId, type: e.type, version: e.version, client_id: e.clientId, agent_id: e.agentId,
    occurred_at: toDbTime(e.occurredAt), payload: JSON.stringify(e), source, cause_event_id: null,
    topic: position?.topic ?? null, partition_no: position?.partition ?? null, offset_no: position?.offset ?? null,
  }
}

function decisionRow(d: DecisionEntry): NewEventLog {
  return {
    event_id: d.eventId, type: d.type, version: 1, client_id: d.clientId, agent_id: d.agentId,
    occurred_at: toDbTime(d.occurredAt), payload: JSON.stringify(d.payload), source: 'decision',
    cause_event_id: d.causeEventId, topic: null, partition_no: null, offset_no: null,
  }
}

/** Collects what handlers emit, to be written once per batch. */
class Collector implements BatchContext {
  readonly decisions: NewEventLog[] = []
  readonly outbox: NewOutbox[] = []
  readonly rejected = new Map<string, string>()
  command(c: CommandEvent, cause: SpotEvent): void {
    this.decisions.push({ ...logRow(c, 'decision'), cause_event_id: cause.eventId })
    this.outbox.push({
      command_id: c.eventId, type: c.type, client_id: c.clientId, agent_id: c.agentId,
      payload: JSON.stringify(c), cause_event_id: cause.eventId,
    })
  }
  decision(entry: DecisionEntry): void { this.decisions.push(decisionRow(entry)) }
  reject(event: SpotEvent, reason: string): void { this.rejected.set(event.eventId, reason) }
}

/** Runs the handlers over `events` and writes what they emitted. Shared with replays and HTTP commands. */
export async function applyEvents(trx: Transaction<Database>, events: readonly SpotEvent[], handlers: readonly EventHandler[], maxBytes = DEFAULT_STATEMENT_BYTES): Promise<Collector> {
  const out = new Collector()
  for (const h of handlers) {
    const mine = events.filter((e) => h.handles.has(e.type))
    if (mine.length > 0) await h.apply(trx, mine, out)
  }
  await insertChunked(out.decisions, maxBytes, (c) => trx.insertInto('event_log').values(c).execute())
  await insertChunked(out.outbox, maxBytes, (c) => trx.insertInto('outbox').values(c).execute())
  return out
}

export async function applyBatch(db: Kysely<Database>, batch: PartitionBatch, handlers: readonly EventHandler[], opts: ApplyOptions = {}): Promise<ApplyResult> {
  const { topic, partition, messages } = batch
  const maxBytes = opts.maxStatementBytes ?? DEFAULT_STATEMENT_BYTES
  const last = messages.at(-1)
  if (!last) return { lastOffset: null, applied: [], decided: [], duplicates: 0, deadLettered: 0, skipped: 0 }

  // READ COMMITTED: under REPEATABLE READ the plain SELECT on event_log below
  // would fix the read view before the handlers lock their rows (the agents),
  // and their plain reads (live replicas, recent signals) would then miss what
  // the previous holder of the lock committed, and write a stale state back.
  return db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    const checkpoint = await lockCheckpoint(trx, topic, partition)
    const fresh = messages.filter((m) => BigInt(m.offset) > checkpoint)
    const skipped = messages.length - fresh.length
    if (fresh.length === 0) return { lastOffset: String(checkpoint), applied: [], decided: [], duplicates: 0, deadLettered: 0, skipped }

    const dead: DeadLetterRow[] = []
    const parsed: { event: SpotEvent, message: RawMessage }[] = []
    for (const m of fresh) {
      const r = parseMessage(m.value)
      if (r.ok) parsed.push({ event: r.event, message: m })
      else dead.push(deadLetter(topic, partition, m, r.reason, maxBytes))
    }

    // Stored before, or repeated within this batch: a duplicate either way.
    const seen = await existingEventIds(trx, parsed.map((p) => p.event.eventId))
    const candidates = parsed.filter((p) => {
      if (seen.has(p.event.eventId)) return false
      seen.add(p.event.eventId)
      return true
    }).map((p) => ({ ...p, row: logRow(p.event, 'kafka', { topic, partition, offset: p.message.offset }) }))
    const fits = candidates.filter((p) => {
      const bytes = rowBytes(p.row)
      if (bytes <= maxBytes) return true
      dead.push({ ...deadLetter(topic, partition, p.message, `too large to store: the event is ${bytes} bytes, the database takes ${maxBytes} in one statement`, maxBytes), event_id: p.event.eventId, event_type: p.event.type })
      return false
    })
    await lockForHandlers(trx, fits.map((p) => p.event), handlers)
    const storedElsewhere = await appendEvents(trx, fits.map((p) => p.row), maxBytes)
    const newOnes = fits.filter((p) => !storedElsewhere.has(p.event.eventId))

    const events = newOnes.map((p) => p.event)
    const out = await applyEvents(trx, events, handlers, maxBytes)
    for (const p of newOnes) {
      const reason = out.rejected.get(p.event.eventId)
      if (reason !== undefined) dead.push({ ...deadLetter(topic, partition, p.message, reason, maxBytes), event_id: p.event.eventId, event_type: p.event.type })
    }
    await writeDeadLetters(trx, dead, maxBytes)

    const lastOffset = fresh.at(-1)!.offset
    await trx.updateTable('consumer_checkpoints').set({ offset_no: lastOffset })
      .where('topic', '=', topic).where('partition_no', '=', partition).execute()
    return { lastOffset, applied: events, decided: out.decisions, duplicates: parsed.length - candidates.length + storedElsewhere.size, deadLettered: dead.length, skipped }
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
    event_type: sql`VALUES(event_type)`, reason: sql`VALUES(reason)`, published_at: null,
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
