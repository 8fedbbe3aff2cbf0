/**
 * Shadow databases of a rebuild: the projections' tables created LIKE the
 * live ones (same columns, generated columns and indexes) in a database of
 * their own, and the one atomic RENAME TABLE that swaps them in. Views name
 * tables by name, so v_pool_reliability_ranking reads the swapped-in table.
 */
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'

const q = (name: string) => `\`${name.replace(/`/g, '``')}\``

/** Where the replaced live tables go in the shadow database (dropped with it). */
const OLD_PREFIX = 'replaced_'

export async function createShadow(db: Kysely<Database>, live: string, shadow: string, tables: readonly string[]): Promise<void> {
  await sql.raw(`CREATE DATABASE IF NOT EXISTS ${q(shadow)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`).execute(db)
  for (const t of tables) await sql.raw(`CREATE TABLE IF NOT EXISTS ${q(shadow)}.${q(t)} LIKE ${q(live)}.${q(t)}`).execute(db)
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

export async function dropShadow(db: Kysely<Database>, shadow: string): Promise<void> {
  await sql.raw(`DROP DATABASE IF EXISTS ${q(shadow)}`).execute(db)
}
