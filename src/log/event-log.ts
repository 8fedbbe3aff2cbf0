/**
 * The event-log repository: append inputs (what a door brought in), append
 * what the service produced (decisions and commands, with their cause), and
 * read the log in order from a position (what replay folds). One multi-row
 * statement per chunk, never a statement per event.
 */
import type { Kysely, QueryCreator, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { DEFAULT_STATEMENT_BYTES, chunkByBytes, rowBytes } from '../db/statement-bytes.js'
import type { CommandEvent } from './decider.js'
import { type DecisionEvent, STANDALONE_DECISIONS } from './decisions.js'
import { LOG_EVENT_COLUMNS, type LogEventRow, type LogPosition, type StoredEvent, logRowOf, storedEventOfRow } from './stored-event.js'

type Trx = Transaction<Database>

export const CHUNK = 500

/** Input ids per lookup of what they caused: under in_predicate_conversion_threshold (1,000), so the IN list stays index ranges. */
const CAUSES_PER_STATEMENT = 900

/** An input as a door hands it to the core. */
export interface InputEntry {
  event: StoredEvent
  source: 'kafka' | 'http'
  position?: LogPosition
}

/** What the service produced in answer to an input. */
export interface Produced {
  event: DecisionEvent | CommandEvent
  cause: string
}

/** Multi-row statements of at most CHUNK rows and `maxBytes` bytes (the server's max_allowed_packet, see statement-bytes.ts). */
export async function insertChunked<T extends object>(rows: readonly T[], maxBytes: number, insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (const chunk of chunkByBytes([...rows], CHUNK, maxBytes, rowBytes)) await insert(chunk)
}

/** Which of these event ids are in the log already. */
export async function loggedEventIds(trx: Trx, ids: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>()
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await trx.selectFrom('event_log').select('event_id')
      .where('event_id', 'in', ids.slice(i, i + CHUNK)).execute()
    for (const r of rows) found.add(r.event_id)
  }
  return found
}

/** Appends inputs known to be new (the caller checked loggedEventIds under its locks). */
export async function appendInputs(trx: Trx, inputs: readonly InputEntry[], maxBytes = DEFAULT_STATEMENT_BYTES): Promise<void> {
  await insertChunked(inputs.map((i) => logRowOf(i.event, i.source, { position: i.position })), maxBytes,
    (c) => trx.insertInto('event_log').values(c).execute())
}

/** Appends one input unless its id is logged already; false for a duplicate. */
export async function appendInputIfNew(trx: Trx, input: InputEntry): Promise<boolean> {
  // INSERT IGNORE, not ON DUPLICATE KEY UPDATE: mysql2 counts a found row as
  // affected, so only IGNORE tells a duplicate apart. The event passed zod,
  // so no other error is there to be downgraded to a warning.
  const r = await trx.insertInto('event_log').orIgnore().values(logRowOf(input.event, input.source, { position: input.position })).executeTakeFirst()
  return Number(r.numInsertedOrUpdatedRows ?? 0) === 1
}

/** Appends decisions and commands (source 'decision'), each with the input that caused it. */
export async function appendProduced(trx: Trx, produced: readonly Produced[], maxBytes = DEFAULT_STATEMENT_BYTES): Promise<void> {
  await insertChunked(produced.map((p) => logRowOf(p.event, 'decision', { cause: p.cause })), maxBytes,
    (c) => trx.insertInto('event_log').values(c).execute())
}

/** One input read back from the log, with what it caused in log order. */
export interface LoggedInput {
  seq: number
  event: StoredEvent
  caused: StoredEvent[]
}

export interface LogPage {
  inputs: LoggedInput[]
  /** Decisions that stand alone (STANDALONE_DECISIONS) read in the page, in log order. */
  alone: StoredEvent[]
  /** Every seq the page read (inputs and produced rows), so a reader can tell which seqs it has not seen yet. */
  seqs: number[]
}

/**
 * Up to `limit` rows after `afterSeq` (keyset: `seq > afterSeq`), or exactly
 * `seqs`, in seq order, each input with everything it caused (they were
 * committed together, the input first, so a produced row's seq is above its
 * cause's). What a page's inputs caused is mostly in the page itself; only
 * what lies beyond its last seq is fetched, by the inputs' ids through
 * idx_event_log_cause. A produced row met in a seq range whose cause is not in
 * it belongs to an input read before (with it, by that read's lookup), so it is
 * not repeated. Exact `seqs` (the gaps a reader goes back to) fetch what their
 * inputs caused wherever it lies. The exception is a decision that stands
 * alone (STANDALONE_DECISIONS: logged later, in a transaction of its own): it
 * is never fetched with its cause, only returned in `alone` where it stands,
 * so each is read once however the pages fell when it was written.
 *
 * `causedTypes`, when given, are the produced types the reader folds (a
 * rebuild: what its projections handle): a produced row of another type (the
 * commands sent to agents, a replica requested) is read for its seq but not
 * decoded, and is left out of `caused`.
 */
export async function readLog(db: QueryCreator<Database>, range: { afterSeq: number, limit: number } | { seqs: readonly number[] }, causedTypes?: ReadonlySet<string>): Promise<LogPage> {
  let q = db.selectFrom('event_log').select([...LOG_EVENT_COLUMNS, 'source']).orderBy('seq')
  q = 'seqs' in range ? q.where('seq', 'in', range.seqs.length > 0 ? [...range.seqs] : [-1]) : q.where('seq', '>', range.afterSeq).limit(range.limit)
  const rows = await q.execute()
  const inputs: LoggedInput[] = []
  const byId = new Map<string, LoggedInput>()
  const produced: LogEventRow[] = []
  const alone: StoredEvent[] = []
  for (const r of rows) {
    if (r.source === 'decision' && STANDALONE_DECISIONS.has(r.type)) {
      if (causedTypes === undefined || causedTypes.has(r.type)) alone.push(storedEventOfRow(r))
      continue
    }
    if (r.source === 'decision') { produced.push(r); continue }
    const input = { seq: r.seq, event: storedEventOfRow(r), caused: [] }
    inputs.push(input)
    byId.set(r.event_id, input)
  }
  const last = rows.at(-1)?.seq
  if (last !== undefined && inputs.length > 0) {
    // By the inputs' ids through idx_event_log_cause (its entries end with seq), not by a join from the
    // page's seq range, which read every input row, payload and all, a second time.
    const ids = [...byId.keys()]
    const beyond: typeof produced = []
    for (let i = 0; i < ids.length; i += CAUSES_PER_STATEMENT) {
      let q = db.selectFrom('event_log').select(LOG_EVENT_COLUMNS).where('cause_event_id', 'in', ids.slice(i, i + CAUSES_PER_STATEMENT))
        .where('type', 'not in', [...STANDALONE_DECISIONS])
      if (!('seqs' in range)) q = q.where('seq', '>', last)
      beyond.push(...await q.execute())
    }
    // In the seqs case the lookup finds the produced rows also read above: each is attached once, by seq.
    const seen = new Set(produced.map((p) => p.seq))
    for (const p of beyond) if (!seen.has(p.seq)) produced.push(p)
    produced.sort((a, b) => a.seq - b.seq)
  }
  for (const p of produced) {
    const input = p.cause_event_id === null ? undefined : byId.get(p.cause_event_id)
    if (input && (causedTypes === undefined || causedTypes.has(p.type))) input.caused.push(storedEventOfRow(p))
  }
  return { inputs, alone, seqs: rows.map((r) => r.seq) }
}

/** The inputs with these event ids, each with everything it caused wherever it lies (as readLog's exact seqs). */
export async function readInputs(db: QueryCreator<Database>, eventIds: readonly string[], causedTypes?: ReadonlySet<string>): Promise<LoggedInput[]> {
  if (eventIds.length === 0) return []
  const seqs: number[] = []
  for (let i = 0; i < eventIds.length; i += CAUSES_PER_STATEMENT) {
    const rows = await db.selectFrom('event_log').select('seq').where('event_id', 'in', eventIds.slice(i, i + CAUSES_PER_STATEMENT)).execute()
    seqs.push(...rows.map((r) => r.seq))
  }
  return (await readLog(db, { seqs: seqs.sort((a, b) => a - b) }, causedTypes)).inputs
}

/** How many log rows follow `seq` (a range count of the primary key). */
export async function logRowsAfter(db: Kysely<Database> | Trx, seq: number): Promise<number> {
  const r = await db.selectFrom('event_log').select((eb) => eb.fn.countAll().as('n')).where('seq', '>', seq).executeTakeFirst()
  return Number(r?.n ?? 0)
}

/** The highest seq in the log (0 when empty). */
export async function logHead(db: Kysely<Database> | Trx): Promise<number> {
  const r = await db.selectFrom('event_log').select((eb) => eb.fn.max('seq').as('head')).executeTakeFirst()
  return Number(r?.head ?? 0)
}
