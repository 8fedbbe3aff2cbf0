/**
 * Runs the schema migrations under db/migrations with Kysely's Migrator.
 * Kysely's MySQL adapter serialises concurrent runs with GET_LOCK, so two
 * instances starting at once take turns; each migration converges rather
 * than assumes, so the second one finds nothing to do.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FileMigrationProvider, type Kysely, type MigrationInfo, Migrator, sql } from 'kysely'
import { type RepairRecord, lastRepairId, readRepairs } from './repairs.js'

/** db/migrations both from src/db (tests, tsx) and from dist/src/db (built). */
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../db/migrations')

export class MigrationError extends Error {
  override name = 'MigrationError'
}

export function migrator(db: Kysely<any>): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
    // Every migration converges (it checks information_schema rather than
    // assuming the one before it ran), so one that lands with a lower number
    // than one already applied is safe to run late.
    allowUnorderedMigrations: true,
  })
}

/** What the migrations do, by privilege. */
export const REQUIRED_PRIVILEGES = [
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX',
  'CREATE VIEW', 'CREATE ROUTINE', 'ALTER ROUTINE',
] as const

/** Privileges the current user lacks on the current database (global or schema grants). */
export async function missingPrivileges(db: Kysely<any>): Promise<string[]> {
  const grantee = sql`CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')`
  const r = await sql<{ p: string }>`
    SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ${grantee}
    UNION
    SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
     WHERE GRANTEE = ${grantee} AND DATABASE() LIKE TABLE_SCHEMA`.execute(db)
  const have = new Set(r.rows.map((x) => x.p.toUpperCase()))
  return REQUIRED_PRIVILEGES.filter((p) => !have.has(p))
}

export interface MigrateResult {
  applied: string[]
  /** What this run changed in legacy data so that the schema could hold it. */
  repairs: RepairRecord[]
}

export async function migrateToLatest(db: Kysely<any>): Promise<MigrateResult> {
  const missing = await missingPrivileges(db)
  if (missing.length > 0) {
    const [{ u } = { u: '?' }] = (await sql<{ u: string }>`SELECT CURRENT_USER() AS u`.execute(db)).rows
    throw new MigrationError(`user ${u} lacks privileges ${missing.join(', ')} on this database; grant them or migrate as another user`)
  }
  const repairedBefore = await lastRepairId(db)
  const { error, results = [] } = await migrator(db).migrateToLatest()
  const failed = results.find((r) => r.status === 'Error')
  if (error) {
    const msg = error instanceof Error ? error.message : String(error)
    throw new MigrationError(`migration ${failed?.migrationName ?? '(lock or provider)'} failed: ${msg}`)
  }
  return {
    applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName),
    repairs: await readRepairs(db, repairedBefore),
  }
}

export async function migrationStatus(db: Kysely<any>): Promise<readonly MigrationInfo[]> {
  return migrator(db).getMigrations()
}

/** CREATE DATABASE IF NOT EXISTS through a connection that names none. */
export async function ensureDatabase(serverDb: Kysely<any>, name: string): Promise<void> {
  await sql`CREATE DATABASE IF NOT EXISTS ${sql.id(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`.execute(serverDb)
}
