/**
 * Data versions for caches of read models (the HTTP response cache,
 * src/plugins/response-cache.ts). A scope names what a cached answer read:
 * `client:<id>` (that client's agents and replicas), `pricing` (the shared
 * price tables), `replay` (every table a replay swapped in). Every transaction that applies inputs bumps, in one
 * statement, each scope its inputs and decisions touched; a reader's version
 * of a scope is the sum of its counters, which only grows. Read before the
 * data it validates, it proves a cached answer built after reading the same
 * version has seen every commit up to it, whichever instance committed.
 *
 * Each process writes its own slot's rows (random, 0-63), so two `serve`
 * instances applying batches of one client do not queue on one row lock;
 * two that drew the same slot only wait for each other's commit.
 */
import { randomInt } from 'node:crypto'
import { CompiledQuery, type Kysely, type Transaction, sql } from 'kysely'
import type { Database } from '../db/database.js'
import type { StoredEvent } from './stored-event.js'

export type ReadScope = `client:${string}` | 'pricing' | 'replay'

export const clientScope = (clientId: string): ReadScope => `client:${clientId}`
export const PRICING_SCOPE: ReadScope = 'pricing'
/** Bumped when a replay swaps rebuilt tables in: part of every version read. */
export const REPLAY_SCOPE: ReadScope = 'replay'

const SLOT = randomInt(64)

/** What applying `events` may have changed, sorted (so that two writers in one slot lock rows in one order). */
export function scopesOf(events: readonly StoredEvent[]): ReadScope[] {
  const scopes = new Set<ReadScope>()
  for (const e of events) {
    scopes.add(clientScope(e.clientId))
    if (e.type === 'pricing.snapshot') scopes.add(PRICING_SCOPE)
  }
  return [...scopes].sort()
}

/** One statement: adds one to this process's counter of every scope. */
export async function bumpReadVersions(trx: Transaction<Database>, scopes: readonly ReadScope[]): Promise<void> {
  if (scopes.length === 0) return
  await trx.insertInto('read_versions').values(scopes.map((scope) => ({ scope, slot: SLOT, version: 1 })))
    .onDuplicateKeyUpdate({ version: sql`version + 1` }).execute()
}

/** The current version of `scopes` (and of the replay scope) together: a text that changes whenever any of them does. */
export async function readVersion(db: Kysely<Database>, only: readonly ReadScope[]): Promise<string> {
  const scopes = [...only, REPLAY_SCOPE]
  // Every cached answer runs this: text built here, not by the query builder (whose compile cost more than the round trip).
  const { rows } = await db.executeQuery<{ scope: string, v: string | number }>(CompiledQuery.raw(
    `SELECT scope, SUM(version) AS v FROM read_versions WHERE scope IN (${scopes.map(() => '?').join(', ')}) GROUP BY scope`, scopes))
  const sums = new Map(rows.map((r) => [r.scope, String(r.v)]))
  return scopes.map((s) => sums.get(s) ?? '0').join('.')
}
