/**
 * Shadow databases of a rebuild: the projections' tables created LIKE the
 * live ones (same columns, generated columns and indexes) in a database of
 * their own, and the one atomic RENAME TABLE that swaps them in. Views name
 * tables by name, so v_pool_reliability_ranking reads the swapped-in table.
 *
 * While a shadow is built, its tables keep only the primary and unique keys
 * (the upserts need them) and the indexes a projection says it reads
 * through; every other index, and the unique keys that only make a
 * re-delivered event add nothing (a rebuild applies each logged event once),
 * is dropped at creation and built again, in the live table's order, once
 * the log is caught up (restoreIndexes): one sorted build per index instead
 * of a B-tree insert per row.
 */
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'

const q = (name: string) => `\`${name.replace(/`/g, '``')}\``

/** Where the replaced live tables go in the shadow database (dropped with it). */
const OLD_PREFIX = 'replaced_'

interface IndexDef { name: string, unique: boolean, columns: string }

/** The secondary indexes of each table, in the order SHOW CREATE TABLE lists them. */
async function indexesOf(db: Kysely<Database>, schema: string, tables: readonly string[]): Promise<Map<string, IndexDef[]>> {
  const { rows } = await sql<{ t: string, name: string, non_unique: number, col: string, sub_part: number | null }>`
    SELECT TABLE_NAME AS t, INDEX_NAME AS name, NON_UNIQUE AS non_unique, COLUMN_NAME AS col, SUB_PART AS sub_part
    FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${sql.join(tables)}) AND INDEX_NAME <> 'PRIMARY'
    ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`.execute(db)
  const order = await sql<{ t: string, name: string }>`SELECT TABLE_NAME AS t, INDEX_NAME AS name FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME IN (${sql.join(tables)}) AND INDEX_NAME <> 'PRIMARY' AND SEQ_IN_INDEX = 1`.execute(db)
  const defs = new Map<string, IndexDef>()
  for (const r of rows) {
    const k = `${r.t}.${r.name}`
    const col = r.sub_part === null ? q(r.col) : `${q(r.col)}(${r.sub_part})`
    const d = defs.get(k)
    if (d) d.columns += `, ${col}`
    else defs.set(k, { name: r.name, unique: Number(r.non_unique) === 0, columns: col })
  }
  const out = new Map<string, IndexDef[]>(tables.map((t) => [t, []]))
  // information_schema lists a table's indexes in their creation order, which is SHOW CREATE TABLE's.
  for (const r of order.rows) out.get(r.t)?.push(defs.get(`${r.t}.${r.name}`)!)
  return out
}

/** The shadow's tables, created LIKE the live ones; non-unique indexes not in `keep`, and the unique ones in `deferUnique`, are left out until restoreIndexes. */
export async function createShadow(db: Kysely<Database>, live: string, shadow: string, tables: readonly string[], keep: ReadonlySet<string> = new Set(), deferUnique: ReadonlySet<string> = new Set()): Promise<void> {
  if (tables.length === 0) return
  await sql.raw(`CREATE DATABASE IF NOT EXISTS ${q(shadow)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`).execute(db)
  for (const t of tables) await sql.raw(`CREATE TABLE IF NOT EXISTS ${q(shadow)}.${q(t)} LIKE ${q(live)}.${q(t)}`).execute(db)
  for (const [t, defs] of await indexesOf(db, shadow, tables)) {
    const deferred = defs.filter((d) => (d.unique ? deferUnique.has(d.name) : !keep.has(d.name)))
    if (deferred.length > 0) await sql.raw(`ALTER TABLE ${q(shadow)}.${q(t)} ${deferred.map((d) => `DROP INDEX ${q(d.name)}`).join(', ')}`).execute(db)
  }
}

/**
 * Builds the indexes createShadow left out, so each shadow table has the live
 * one's indexes in the live one's order: the indexes from the first missing
 * one on are dropped and added again in order (one ALTER per table).
 */
export async function restoreIndexes(db: Kysely<Database>, live: string, shadow: string, tables: readonly string[]): Promise<void> {
  if (tables.length === 0) return
  const want = await indexesOf(db, live, tables)
  const have = await indexesOf(db, shadow, tables)
  const alters: string[] = []
  for (const t of tables) {
    const w = want.get(t) ?? []
    const h = have.get(t) ?? []
    let same = 0
    while (same < w.length && same < h.length && w[same]!.name === h[same]!.name) same++
    if (same === w.length && same === h.length) continue
    const drop = h.slice(same).map((d) => `DROP INDEX ${q(d.name)}`)
    const add = w.slice(same).map((d) => `ADD ${d.unique ? 'UNIQUE ' : ''}INDEX ${q(d.name)} (${d.columns})`)
    alters.push(`ALTER TABLE ${q(shadow)}.${q(t)} ${[...drop, ...add].join(', ')}`)
  }
  // Each table's build is one sort on one server thread: the tables side by side, as many at once as the pool has connections free.
  const runs = await Promise.allSettled(alters.map((a) => sql.raw(a).execute(db)))
  const failed = runs.find((r) => r.status === 'rejected')
  if (failed) throw failed.reason
}

/** Live tables to the shadow database, shadow tables to live: one statement, atomic for readers. */
export async function swapIn(db: Kysely<Database>, live: string, shadow: string, tables: readonly string[]): Promise<void> {
  const pairs = tables.flatMap((t) => [
    `${q(live)}.${q(t)} TO ${q(shadow)}.${q(OLD_PREFIX + t)}`,
    `${q(shadow)}.${q(t)} TO ${q(live)}.${q(t)}`,
  ])
  await sql.raw(`RENAME TABLE ${pairs.join(', ')}`).execute(db)
}

/** Whether the swap already happened (a crash after RENAME, before the checkpoint said so). */
export async function swapped(db: Kysely<Database>, shadow: string, tables: readonly string[]): Promise<boolean> {
  if (tables.length === 0) return false
  const r = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = ${shadow} AND TABLE_NAME = ${OLD_PREFIX + tables[0]!}`.execute(db)
  return Number(r.rows[0]?.n ?? 0) > 0
}

/** Fresh optimizer statistics for the shadow's tables (sampled: milliseconds). */
export async function analyzeShadow(db: Kysely<Database>, shadow: string, tables: readonly string[]): Promise<void> {
  if (tables.length > 0) await sql.raw(`ANALYZE TABLE ${tables.map((t) => `${q(shadow)}.${q(t)}`).join(', ')}`).execute(db)
}

export async function dropShadow(db: Kysely<Database>, shadow: string): Promise<void> {
  await sql.raw(`DROP DATABASE IF EXISTS ${q(shadow)}`).execute(db)
}
