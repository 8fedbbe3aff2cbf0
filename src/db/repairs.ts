/**
 * The legacy-data repairs the migrations recorded in `migration_repairs`
 * (db/legacy-repair.ts): read for `migrate` (what this run changed) and for
 * `migrate verify` (everything ever changed), and printed as one table.
 */
import { type Kysely, sql } from 'kysely'
import type { Database } from './database.js'

export interface RepairRecord {
  migration: string
  /** `table.column:what` */
  repair: string
  description: string
  rowCount: number
  /** E.g. the replicas ended, so an operator can stop their instances. */
  detail: string | null
  appliedAt: string
}

async function hasRepairTable(db: Kysely<Database>): Promise<boolean> {
  const r = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'migration_repairs'`.execute(db)
  return Number(r.rows[0]?.n) > 0
}

/** The highest record id so far (0 when none or no table): what a run's new records come after. */
export async function lastRepairId(db: Kysely<Database>): Promise<number> {
  if (!(await hasRepairTable(db))) return 0
  const r = await db.selectFrom('migration_repairs').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst()
  return Number(r?.id ?? 0)
}

/** Records with an id above `afterId`, in the order they were made. */
export async function readRepairs(db: Kysely<Database>, afterId = 0): Promise<RepairRecord[]> {
  if (!(await hasRepairTable(db))) return []
  const rows = await db.selectFrom('migration_repairs').selectAll()
    .where('id', '>', afterId).orderBy('id').execute()
  return rows.map((r) => ({
    migration: r.migration, repair: r.repair, description: r.description, rowCount: r.row_count,
    detail: r.detail, appliedAt: r.applied_at,
  }))
}

/** An aligned table: migration, repair, rows, what (and the detail on its own line). */
export function formatRepairs(repairs: readonly RepairRecord[]): string[] {
  const rows = [['MIGRATION', 'REPAIR', 'ROWS', 'WHAT'],
    ...repairs.map((r) => [r.migration, r.repair, String(r.rowCount), r.description + (r.detail ? `: ${r.detail}` : '')])]
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ').trimEnd())
}
