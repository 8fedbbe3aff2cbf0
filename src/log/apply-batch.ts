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

async function insertChunked<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) await insert(rows.slice(i, i + CHUNK))
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
export async function applyEvents(trx: Transaction<Database>, events: readonly SpotEvent[], handlers: readonly EventHandler[]): Promise<Collector> {
  const out = new Collector()
  for (const h of handlers) {
    const mine = events.filter((e) => h.handles.has(e.type))
    if (mine.length > 0) await h.apply(trx, mine, out)
  }
  await insertChunked(out.decisions, (c) => trx.insertInto('event_log').values(c).execute())
  await insertChunked(out.outbox, (c) => trx.insertInto('outbox').values(c).execute())
  return out
}

export async function applyBatch(db: Kysely<Database>, batch: PartitionBatch, handlers: readonly EventHandler[]): Promise<ApplyResult> {
  const { topic, partition, messages } = batch
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

    const dead: NewDeadLetterEvent[] = []
    const parsed: { event: SpotEvent, message: RawMessage }[] = []
    for (const m of fresh) {
      const r = parseMessage(m.value)
      if (r.ok) parsed.push({ event: r.event, message: m })
      else dead.push(deadLetter(topic, partition, m, r.reason))
    }

    // Stored before, or repeated within this batch: a duplicate either way.
    const seen = await existingEventIds(trx, parsed.map((p) => p.event.eventId))
    const newOnes = parsed.filter((p) => {
      if (seen.has(p.event.eventId)) return false
      seen.add(p.event.eventId)
      return true
    })
    await lockForHandlers(trx, newOnes.map((p) => p.event), handlers)
    await insertChunked(newOnes, (c) => trx.insertInto('event_log')
      .values(c.map((p) => logRow(p.event, 'kafka', { topic, partition, offset: p.message.offset }))).execute())

    const events = newOnes.map((p) => p.event)
    const out = await applyEvents(trx, events, handlers)
    for (const p of newOnes) {
      const reason = out.rejected.get(p.event.eventId)
      if (reason !== undefined) dead.push({ ...deadLetter(topic, partition, p.message, reason), event_id: p.event.eventId, event_type: p.event.type })
    }
    await writeDeadLetters(trx, dead)

    const lastOffset = fresh.at(-1)!.offset
    await trx.updateTable('consumer_checkpoints').set({ offset_no: lastOffset })
      .where('topic', '=', topic).where('partition_no', '=', partition).execute()
    return { lastOffset, applied: events, decided: out.decisions, duplicates: parsed.length - newOnes.length, deadLettered: dead.length, skipped }
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
