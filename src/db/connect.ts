/**
 * The one place a Kysely instance is made. mysql2's callback pool (not the
 * promise wrapper) is what MysqlDialect wants. Sessions run in strict mode, in UTC, and
 * DATETIMEs come back as strings, so no local time zone ever shifts them;
 * DECIMALs come back as strings too, converted at the edge on purpose.
 */
import { Kysely, MysqlDialect } from 'kysely'
import { createPool, type PoolOptions } from 'mysql2'
import type { Database } from './database.js'

export interface DbOptions {
  url: string
  connectionLimit?: number
  /** Overrides the database named in the URL. */
  database?: string
}

export function poolOptions(opts: DbOptions): PoolOptions {
  const u = new URL(opts.url)
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: opts.database ?? (decodeURIComponent(u.pathname.slice(1)) || undefined),
    connectionLimit: opts.connectionLimit ?? 10,
    timezone: 'Z',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
    multipleStatements: false,
  }
}

export function createDb(opts: DbOptions): Kysely<Database> {
  const pool = createPool(poolOptions(opts))
  // Strict mode: a value that does not fit is an error, never a silent truncation
  // (the migrations' no-data-loss promise and the consumer's refusals rely on it).
  pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00', sql_mode = IF(@@sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@sql_mode, ',STRICT_ALL_TABLES'))")
  })
  return new Kysely<Database>({ dialect: new MysqlDialect({ pool }) })
}

export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1))
  if (!name) throw new Error('DATABASE_URL names no database')
  return name
}
