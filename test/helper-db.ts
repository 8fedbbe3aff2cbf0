/**
 * Test helpers for the database: every test file gets its own database with a
 * random name on the server of DATABASE_URL, dropped again in teardown, so
 * files can run in parallel and leave nothing behind.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Kysely } from 'kysely'
import mysql from 'mysql2/promise'
import type { Test } from 'tap'
import { createDb, poolOptions } from '../src/db/connect.js'
import type { Database } from '../src/db/database.js'
import { migrateToLatest } from '../src/db/migrate.js'

export const DEFAULT_DATABASE_URL = 'mysql://root@127.0.0.1:3306/test'

export function databaseUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_DATABASE_URL
}

export function randomName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`
}

/** A plain mysql2 connection to the server of `url`; `database` null names none. */
export async function connection(url: string, database: string | null, extra: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
  const { host, port, user, password } = poolOptions({ url })
  const conn = await mysql.createConnection({
    host, port, user, password, database: database ?? undefined,
    timezone: 'Z', dateStrings: true, supportBigNumbers: true, ...extra,
  })
  await conn.query("SET time_zone = '+00:00'")
  return conn
}

/** Runs statements on a server connection (no database selected). */
export async function onServer(url: string, ...statements: string[]): Promise<void> {
  const conn = await connection(url, null)
  try {
    for (const s of statements) await conn.query(s)
  } finally {
    await conn.end()
  }
}

export interface FreshDatabase {
  db: Kysely<Database>
  url: string
  name: string
}

/**
 * Creates `t_<hex>` (utf8mb4_unicode_ci, like ensureDatabase), optionally
 * migrated; teardown destroys the pool and drops the database.
 */
export async function freshDatabase(t: Test, opts: { migrate?: boolean } = {}): Promise<FreshDatabase> {
  const url = databaseUrl()
  const name = randomName('t')
  await onServer(url, `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  const db = createDb({ url, database: name, connectionLimit: 4 })
  t.teardown(async () => {
    await db.destroy()
    await onServer(url, `DROP DATABASE IF EXISTS \`${name}\``)
  })
  if (opts.migrate) await migrateToLatest(db)
  return { db, url, name }
}

/** Executes a plain SQL fixture (no DELIMITER) in `dbName`, all statements in one round trip. */
export async function runSqlFile(url: string, dbName: string, file: string | URL): Promise<void> {
  const text = await readFile(file, 'utf8')
  const conn = await connection(url, dbName, { multipleStatements: true })
  try {
    await conn.query(text)
  } finally {
    await conn.end()
  }
}

/** Absolute location of a file under test/fixtures. */
export function fixture(name: string): URL {
  return new URL(`./fixtures/${name}`, import.meta.url)
}
