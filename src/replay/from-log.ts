/**
 * `spotfleet replay --from log`: rebuilds every projection's tables from
 * event_log into a shadow database while the service keeps applying, catches
 * up to the log's head, and swaps the rebuilt tables in with one RENAME TABLE
 * behind the swap gate (src/log/gate.ts), so readers never see a half-built
 * model and nothing committed between the last catch-up and the swap is lost.
 *
 * Resumable: each page of the log is applied to the shadow tables in the same
 * transaction as the rebuild's checkpoint (replay_rebuilds). One at a time:
 * GET_LOCK on a connection held for the whole run.
 *
 * The log's seq is assigned at insert, not at commit: a transaction in flight
 * can commit a lower seq after a higher one was read. Seqs skipped over are
 * kept as pending and read again on each page; behind the closed gate no
 * transaction is in flight, so a seq still missing then was rolled back.
 */
import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { projectionStream } from '../log/core.js'
import { parksInput, releasedIds } from '../log/decisions.js'
import type { StoredEvent } from '../log/stored-event.js'
import { type LogPage, type LoggedInput, logHead, logRowsAfter, readInputs, readLog } from '../log/event-log.js'
import { closeGate } from '../log/gate.js'
import { REPLAY_SCOPE, bumpReadVersions } from '../log/read-versions.js'
import { type AnyProjection, applyProjections, forRebuild } from '../log/projection.js'
import { type Progress, silentProgress } from './progress.js'
import { analyzeShadow, createShadow, dropShadow, restoreIndexes, swapIn, swapped } from './shadow.js'

export class ReplayBusyError extends Error {
  readonly code = 'REPLAY_BUSY'
  constructor(database: string) { super(`a replay of ${database} is already running`) }
}

export interface ReplayOptions {
  projections: readonly AnyProjection[]
  /** Log rows per page (and per shadow transaction). */
  pageSize?: number
  progress?: Progress
  /** A seq missing for this long is taken as rolled back (no applying transaction lasts that long). */
  gapTtlMs?: number
  /** Called after each committed page (tests: kill points, concurrent writers). */
  onPage?: (position: number) => Promise<void> | void
}

export interface ReplayResult {
  rebuildId: number
  resumed: boolean
  /** Log rows read (inputs and what they caused). */
  rows: number
  tables: string[]
  seconds: number
}

type Gaps = Map<number, number>

const MAX_GAP = 100_000
/** Log rows per page: each page is one read of the log and one write per table (bigger pages amortise both). */
export const DEFAULT_PAGE = 25_000

export async function currentDatabase(db: Kysely<Database>): Promise<string> {
  const r = await sql<{ d: string }>`SELECT DATABASE() AS d`.execute(db)
  return r.rows[0]!.d
}

export function tablesOf(projections: readonly AnyProjection[]): string[] {
  return [...new Set(projections.flatMap((p) => [...p.tables]))]
}

/** The GET_LOCK name a replay of `database` holds for its whole run (one at a time per database). */
export function replayLockName(database: string): string {
  return `spotfleet-replay-${createHash('sha1').update(database).digest('hex').slice(0, 32)}`
}

/** `db` needs at least three connections: the lock holder, the gate (or the page read ahead) and the work. */
export async function replayFromLog(db: Kysely<Database>, opts: ReplayOptions): Promise<ReplayResult> {
  const live = await currentDatabase(db)
  const lockName = replayLockName(live)
  return db.connection().execute(async (conn) => {
    const got = await sql<{ ok: number | null }>`SELECT GET_LOCK(${lockName}, 0) AS ok`.execute(conn)
    if (Number(got.rows[0]?.ok) !== 1) throw new ReplayBusyError(live)
    try {
      return await rebuild(db, live, opts)
    } finally {
      await sql`SELECT RELEASE_LOCK(${lockName})`.execute(conn)
    }
  })
}

async function rebuild(db: Kysely<Database>, live: string, opts: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now()
  const tables = tablesOf(opts.projections)
  const progress = opts.progress ?? silentProgress
  const running = await db.selectFrom('replay_rebuilds').selectAll().where('status', '=', 'running').orderBy('id', 'desc').executeTakeFirst()
  let id: number
  let shadow: string
  let position = 0
  let gaps: Gaps = new Map()
  let rows = 0
  if (running) {
    id = running.id
    shadow = running.shadow_database
    position = running.position
    gaps = new Map(JSON.parse(running.pending_gaps) as [number, number][])
    rows = running.events_applied
    if (await swapped(db, shadow, tables)) return finish(db, id, shadow, { rebuildId: id, resumed: true, rows, tables, seconds: 0 })
  } else {
    const r = await db.insertInto('replay_rebuilds').values({ source: 'log', shadow_database: '', pending_gaps: '[]' }).executeTakeFirstOrThrow()
    id = Number(r.insertId)
    shadow = `${live.slice(0, 40)}_rebuild_${id}`
    await db.updateTable('replay_rebuilds').set({ shadow_database: shadow }).where('id', '=', id).execute()
  }
  await createShadow(db, live, shadow, tables, new Set(opts.projections.flatMap((p) => [...p.readIndexes ?? []])),
    new Set(opts.projections.flatMap((p) => [...p.replayIdempotentKeys ?? []])))
  const projections = forRebuild(opts.projections)
  // What the projections fold, the rejection that keeps an input out of them and the parking that holds it back (streamOf); commands are never decoded.
  const caused = new Set<string>([REJECTED, PARKED, RELEASED, ...opts.projections.flatMap((p) => [...p.handles])])
  const readPage = (range: Parameters<typeof readLog>[1]) => readLog(db, range, caused)

  const pageSize = opts.pageSize ?? DEFAULT_PAGE
  const ttl = opts.gapTtlMs ?? 60_000
  // Rows, not seqs: an insert the unique event_id refused still took its seqs (a restarted demo reads its
  // partitions again), so the head's seq can be several times the rows. What is logged meanwhile is counted by seq.
  const headAtStart = await logHead(db)
  const rowsAtStart = rows + await logRowsAfter(db, position)
  const total = async () => Math.max(rowsAtStart + Math.max(0, (await logHead(db)) - headAtStart), rows)
  progress.start(await total(), rows)

  /** The next page, read on another connection while the current one is applied (the log is only read, so reading early is safe). */
  let ahead: { after: number, page: Promise<LogPage> } | null = null
  let analyzedAt = Math.max(rows, pageSize)
  /** Reads and applies one page (plus pending seqs); returns the rows it read. */
  const step = async (final: boolean): Promise<number> => {
    const page = await (ahead?.after === position ? ahead.page : readPage({ afterSeq: position, limit: pageSize }))
    ahead = null
    const late = gaps.size > 0 ? await readPage({ seqs: [...gaps.keys()] }) : { inputs: [], alone: [], seqs: [] }
    const released = await releasedIn(db, [late, page], caused)
    const now = Date.now()
    const nextGaps: Gaps = new Map(gaps)
    for (const s of late.seqs) nextGaps.delete(s)
    let prev = position
    for (const s of page.seqs) {
      // A jump this wide is not transactions in flight (a page holds at most pageSize of them) but a hole in the counter.
      if (s - prev <= MAX_GAP) for (let g = prev + 1; g < s; g++) nextGaps.set(g, now)
      prev = s
    }
    for (const [s, seen] of nextGaps) if (final || now - seen > ttl) nextGaps.delete(s)
    const nextPosition = page.seqs.at(-1) ?? position
    const read = page.seqs.length + late.seqs.length
    if (!final && page.seqs.length === pageSize) {
      const next = readPage({ afterSeq: nextPosition, limit: pageSize })
      next.catch(() => undefined) // awaited by the next step; a failure here must not go unhandled if this page fails first
      ahead = { after: nextPosition, page: next }
    }
    await db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
      await applyProjections(trx.withSchema(shadow), projections, streamOf(released, late, page), true)
      await trx.updateTable('replay_rebuilds').set({
        position: nextPosition, pending_gaps: JSON.stringify([...nextGaps]), events_applied: rows + read,
      }).where('id', '=', id).execute()
    })
    position = nextPosition
    gaps = nextGaps
    rows += read
    // The shadow tables grow from empty: statistics refreshed as they double keep the projections' reads on their plans (a MAX per agent planned for a tenth of the rows reads whole histories).
    if (rows >= 2 * analyzedAt) { await analyzeShadow(db, shadow, tables); analyzedAt = rows }
    progress.update(rows, await total())
    await opts.onPage?.(position)
    return page.seqs.length
  }

  while ((await step(false)) === pageSize) { /* rebuild, then catch up while the service keeps applying */ }
  // The indexes left out while building, then what was logged meanwhile.
  await restoreIndexes(db, live, shadow, tables)
  while ((await step(false)) === pageSize) { /* catch up */ }
  // Behind the closed gate: the last events, then the swap; batches wait only for this.
  await db.transaction().execute(async (gate) => {
    await closeGate(gate)
    while ((await step(true)) === pageSize) { /* the tail */ }
    await swapIn(db, live, shadow, tables)
    await db.updateTable('replay_rebuilds').set({ status: 'swapped', finished_at: sql`CURRENT_TIMESTAMP(3)` }).where('id', '=', id).execute()
  })
  progress.stop()
  return finish(db, id, shadow, { rebuildId: id, resumed: running !== undefined, rows, tables, seconds: (performance.now() - started) / 1000 })
}

async function finish(db: Kysely<Database>, id: number, shadow: string, result: ReplayResult): Promise<ReplayResult> {
  // Cached answers were built from the tables just replaced: every one is rebuilt at its next request.
  await db.transaction().execute((trx) => bumpReadVersions(trx, [REPLAY_SCOPE]))
  await db.updateTable('replay_rebuilds').set({ status: 'swapped', finished_at: sql`COALESCE(finished_at, CURRENT_TIMESTAMP(3))` }).where('id', '=', id).execute()
  await dropShadow(db, shadow)
  return result
}

const REJECTED = 'decision.rejected'
const PARKED = 'decision.input_parked'
const RELEASED = 'decision.parked_released'

const isParked = (i: LoggedInput) => parksInput(i.caused)
const releasedBy = (i: LoggedInput) => releasedIds(i.caused)

/**
 * The inputs that the pages' registrations released from parking, each with
 * all it caused (what it caused at its release is logged with the
 * registration, after the parked input's own page), and those they released.
 */
async function releasedIn(db: Kysely<Database>, pages: readonly { inputs: readonly LoggedInput[] }[], caused: ReadonlySet<string>): Promise<Map<string, LoggedInput>> {
  const found = new Map<string, LoggedInput>()
  let ids = pages.flatMap((p) => p.inputs.flatMap(releasedBy))
  while (ids.length > 0) {
    const inputs = await readInputs(db, ids, caused)
    for (const i of inputs) found.set(i.event.eventId, i)
    const missing = ids.filter((id) => !found.has(id))
    if (missing.length > 0) throw new Error(`event_log: released input ${missing[0]} is not in the log`)
    ids = inputs.flatMap(releasedBy).filter((id) => !found.has(id))
  }
  return found
}

/**
 * Late (gap-filled) inputs first, then the page: each accepted input followed
 * by what it caused, then the inputs it released (as the live path applies
 * them: right after the registration); a parked input is left out where it
 * stands (live, the projections see it only at its release, and never if its
 * agent never registers). Then the decisions that stand alone.
 */
function streamOf(released: ReadonlyMap<string, LoggedInput>, ...pages: LogPage[]) {
  type Item = { event: StoredEvent, caused: readonly StoredEvent[], rejected: boolean }
  const item = (i: LoggedInput): Item[] => [
    { event: i.event, caused: i.caused, rejected: i.caused.some((c) => c.type === REJECTED) },
    ...releasedBy(i).flatMap((id) => {
      const r = released.get(id)
      if (!r) throw new Error(`event_log: released input ${id} was not read`)
      return item(r)
    }),
  ]
  return [...projectionStream(pages.flatMap((p) => p.inputs.filter((i) => !isParked(i)).flatMap(item))), ...pages.flatMap((p) => p.alone)]
}
