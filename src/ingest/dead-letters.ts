/**
 * Dead letters for operators: the parked ones with their reasons (newest
 * first, keyset pages), and re-drive: a parked message goes through the same
 * path as a consumed one (parse, decider locks, event_log, applyAppended), in
 * one transaction holding the dead letter's row lock.
 *
 * Nothing is applied twice: the row lock and resolved_at make concurrent or
 * repeated re-drives of one letter a no-op; an event the log already holds is
 * re-run only when this letter is its rule rejection (the consumer records
 * the rejected event's id on the letter), otherwise it was applied before and
 * the letter is resolved as a duplicate. A re-driven message that still fails
 * (bad JSON, schema, rule) stays parked with the new reason.
 */
import type { Kysely } from 'kysely'
import type { Database, DeadLetterEventRow } from '../db/database.js'
import { type Cursor, after, pageOf } from '../db/page.js'
import { isoFromDb, toDbTime } from '../db/time.js'
import { parseMessage } from '../events/parse.js'
import { type Pipeline, applyAppended, lockDeciders } from '../log/core.js'
import { appendInputIfNew } from '../log/event-log.js'

export interface DeadLetterFilter {
  topic?: string | undefined
  eventType?: string | undefined
  /** Only letters whose reason contains this text. */
  reason?: string | undefined
  /** false (default): parked only; true: re-driven successfully only. */
  resolved?: boolean | undefined
}

/** Bytes of the message value a listing shows (values may be up to 16 MiB). */
const VALUE_SHOWN = 8192

function dlJson(r: DeadLetterEventRow) {
  return {
    id: r.id, topic: r.topic, partition: r.partition_no, offset: r.offset_no === null ? null : String(r.offset_no),
    key: r.message_key === null ? null : r.message_key.toString('utf8'), eventId: r.event_id, eventType: r.event_type,
    reason: r.reason, value: r.raw_value === null ? null : r.raw_value.subarray(0, VALUE_SHOWN).toString('utf8'),
    createdAt: isoFromDb(r.created_at), publishedAt: isoFromDb(r.published_at),
    redriveCount: r.redrive_count, lastRedrivenAt: isoFromDb(r.last_redriven_at), resolvedAt: isoFromDb(r.resolved_at),
  }
}

function filtered(db: Kysely<Database>, f: DeadLetterFilter) {
  let q = db.selectFrom('dead_letter_events').where('resolved_at', f.resolved === true ? 'is not' : 'is', null)
  if (f.topic !== undefined) q = q.where('topic', '=', f.topic)
  if (f.eventType !== undefined) q = q.where('event_type', '=', f.eventType)
  if (f.reason !== undefined) q = q.where('reason', 'like', `%${f.reason.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
  return q
}

export async function listDeadLetters(db: Kysely<Database>, f: DeadLetterFilter & { cursor?: Cursor | undefined, limit: number }) {
  let q = filtered(db, f).selectAll()
  if (f.cursor !== undefined) q = q.where(after('created_at', 'id', f.cursor))
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit + 1).execute()
  return pageOf(rows, f.limit, (r): Cursor => ({ at: r.created_at, id: r.id }), dlJson)
}

export type RedriveOutcome =
  | { id: number, outcome: 'applied' | 'duplicate', eventId: string }
  | { id: number, outcome: 'still-failing', reason: string, eventId: string | null }
  | { id: number, outcome: 'not-found' | 'already-resolved' }

/** Re-drives one dead letter; see the module comment for why nothing is applied twice. */
export async function redriveDeadLetter(db: Kysely<Database>, id: number, pipeline: Pipeline, now = new Date()): Promise<RedriveOutcome> {
  // READ COMMITTED, as the consumer applies: reads after the handlers' locks see what their previous holders committed.
  return db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    const row = await trx.selectFrom('dead_letter_events').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
    if (row === undefined) return { id, outcome: 'not-found' as const }
    if (row.resolved_at !== null) return { id, outcome: 'already-resolved' as const }
    const at = toDbTime(now)
    const park = async (reason: string, eventId: string | null, eventType: string | null): Promise<RedriveOutcome> => {
      await trx.updateTable('dead_letter_events').where('id', '=', id)
        .set((eb) => ({ reason, event_id: eventId, event_type: eventType, redrive_count: eb('redrive_count', '+', 1), last_redriven_at: at }))
        .execute()
      return { id, outcome: 'still-failing', reason, eventId }
    }
    const resolve = async (outcome: 'applied' | 'duplicate', eventId: string): Promise<RedriveOutcome> => {
      await trx.updateTable('dead_letter_events').where('id', '=', id)
        .set((eb) => ({ resolved_at: at, event_id: eventId, redrive_count: eb('redrive_count', '+', 1), last_redriven_at: at }))
        .execute()
      return { id, outcome, eventId }
    }

    if (row.raw_value === null) return park('re-drive: the message value was not kept (empty or over 16 MiB)', row.event_id, row.event_type)
    const parsed = parseMessage(row.raw_value)
    if (!parsed.ok) return park(parsed.reason, null, null)
    const event = parsed.event
    const logged = await trx.selectFrom('event_log').select('event_id').where('event_id', '=', event.eventId).executeTakeFirst()
    if (logged !== undefined && row.event_id !== event.eventId) return resolve('duplicate', event.eventId)

    // As the consumer: the deciders' locks before the append, so log order is lock order.
    await lockDeciders(trx, pipeline, [event])
    if (logged === undefined) {
      const position = row.topic === null || row.partition_no === null || row.offset_no === null ? undefined
        : { topic: row.topic, partition: row.partition_no, offset: String(row.offset_no) }
      if (!(await appendInputIfNew(trx, { event, source: 'kafka', ...(position ? { position } : {}) }))) return resolve('duplicate', event.eventId)
    }
    // A previously rejected input was left out of the projections; accepted now, they fold it once.
    const out = await applyAppended(trx, [event], pipeline)
    const rejected = out.verdicts.get(event.eventId)?.rejection
    return rejected === undefined ? resolve('applied', event.eventId) : park(rejected, event.eventId, event.type)
  })
}

/** Re-drives the parked letters matching `f` (at most `limit`, oldest first), each in its own transaction. */
export async function redriveMatching(db: Kysely<Database>, f: DeadLetterFilter & { ids?: readonly number[] | undefined, limit: number }, pipeline: Pipeline) {
  let q = filtered(db, { ...f, resolved: false }).select('id')
  if (f.ids !== undefined) q = q.where('id', 'in', f.ids.length > 0 ? [...f.ids] : [-1])
  const ids = (await q.orderBy('created_at').orderBy('id').limit(f.limit).execute()).map((r) => r.id)
  const results: RedriveOutcome[] = []
  for (const id of ids) results.push(await redriveDeadLetter(db, id, pipeline))
  const count = (o: RedriveOutcome['outcome']) => results.filter((r) => r.outcome === o).length
  return { attempted: results.length, applied: count('applied'), duplicates: count('duplicate'), stillFailing: count('still-failing'), results }
}
