/**
 * A projection folds stored events into tables it owns. It never decides,
 * never rejects, never sends a command (that is a decider's job): it gets each
 * accepted input followed by the decisions it caused, in log order, inside
 * the caller's transaction. Adding one is a file in src/projections/ and a
 * line in src/wiring.ts.
 *
 * Replay points a projection at a shadow database with the same tables
 * (`db` is then `trx.withSchema(shadow)`), rebuilds them from the log, and
 * swaps them in; so `apply` must only touch its own tables through `db`, and
 * must give the same rows whatever the cross-topic interleaving (DESIGN §1).
 */
import type { QueryCreator } from 'kysely'
import type { Database } from '../db/database.js'
import type { StoredEvent, StoredOf, StoredType } from './stored-event.js'

export interface Projection<T extends StoredType = StoredType> {
  readonly name: string
  /** Event types it handles; the events it receives are typed by them, no casts. */
  readonly handles: readonly T[]
  /** Tables it owns (only it writes them); replay rebuilds these in a shadow schema and swaps them in. */
  readonly tables: readonly (keyof Database & string)[]
  /** Non-unique indexes of its tables that `apply` reads through: a rebuild keeps them while it builds (the others are built once, at the end). */
  readonly readIndexes?: readonly string[]
  /** Unique indexes of its tables that only make a re-delivered event add nothing: a rebuild applies each logged event once, so it builds them at the end too. */
  readonly replayIdempotentKeys?: readonly string[]
  /**
   * A rebuild's own `apply`, which may keep in memory what it wrote from one
   * page to the next instead of reading it back: a rebuild is the shadow
   * tables' only writer and reads the log in order. Called once per rebuild
   * run (a resumed run starts with nothing carried and reads what it needs).
   */
  readonly rebuilding?: () => Projection<T>['apply']
  /** This batch's events in log order: each accepted input followed by the decisions it caused; rejected inputs never arrive.
   *  `db` is the transaction, or during replay the transaction bound to the shadow schema with withSchema(). */
  apply(db: QueryCreator<Database>, events: readonly StoredOf<T>[]): Promise<void>
}

/**
 * Any projection, whatever its T: a list holds projections of different
 * event types, each linking its own `handles` to its own `apply` (T is
 * invariant there, so no single T fits them all; eventsFor keeps the link).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProjection = Projection<any>

/** The events of `events` that `p` handles, in order (typed by its `handles`). */
export function eventsFor<T extends StoredType>(p: Projection<T>, events: readonly StoredEvent[]): StoredOf<T>[] {
  const mine = new Set<string>(p.handles)
  return events.filter((e): e is StoredOf<T> => mine.has(e.type))
}

/** The projections as a rebuild runs them: each with its rebuild's `apply` when it has one (fresh state per call). */
export function forRebuild(projections: readonly AnyProjection[]): AnyProjection[] {
  return projections.map((p) => (p.rebuilding ? { ...p, apply: p.rebuilding() } : p))
}

/**
 * Runs each projection over the events it handles: in order (the live path:
 * every batch takes its row locks in one order), or, for a rebuild, whose
 * shadow tables have no other writer, all at once on the one transaction:
 * its statements still run one after another, but one projection computes
 * its rows while another's statement runs. Projections own their tables (a
 * column one adds beside another's is added commutatively), so the rows do
 * not depend on which statement ran first.
 */
export async function applyProjections(db: QueryCreator<Database>, projections: readonly AnyProjection[], events: readonly StoredEvent[], together = false): Promise<void> {
  if (!together) {
    for (const p of projections) {
      const mine = eventsFor(p, events)
      if (mine.length > 0) await p.apply(db, mine)
    }
    return
  }
  const runs = await Promise.allSettled(projections.map(async (p) => {
    const mine = eventsFor(p, events)
    if (mine.length > 0) await p.apply(db, mine)
  }))
  // Every run settled first: none is left issuing statements on a transaction that rolls back.
  const failed = runs.find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
}
