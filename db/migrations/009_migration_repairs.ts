/**
 * 009: `migration_repairs`, the record of what the migrations changed in
 * legacy data (shown by `migrate` and `migrate verify`). 001 already creates
 * it before its first repair; this converges it on databases whose 001 ran
 * before the table existed.
 */
import type { Kysely } from 'kysely'
import { ensureRepairTable } from '../legacy-repair.js'
import { recordVersion } from '../schema-kit.js'

export async function up(db: Kysely<any>): Promise<void> {
  await ensureRepairTable(db)
  await recordVersion(db, '009', 'migration repairs: the record of legacy data repaired by the migrations')
}
