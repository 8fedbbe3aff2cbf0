/**
 * The one place a Kysely instance is made. mysql2's callback pool (not the
 * promise wrapper) is what MysqlDialect wants. Sessions run in strict mode, in UTC, and
 * DATETIMEs come back as strings, so no local time zone ever shifts them;
 * DECIMALs come back as strings too, converted at the edge on purpose.
 */
import { Kysely, MysqlDialect } from 'kysely'
import { type PoolOptions, type SqlValue, createPool, format } from 'mysql2'
import type { Database } from './database.js'

export interface DbOptions {
  url: string
  connectionLimit?: number
  /** Overrides the database named in the URL. */
  database?: string
  /** Called with each statement (every round trip: BEGIN, COMMIT and SET included) and its time when it completes; benches count them. */
  onStatement?: (sql: string, ms: number) => void
}

/** Times go to and come from the server in UTC. */
const TIMEZONE = 'Z'

export function poolOptions(opts: DbOptions): PoolOptions {
  const u = new URL(opts.url)
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: opts.database ?? (decodeURIComponent(u.pathname.slice(1)) || undefined),
    connectionLimit: opts.connectionLimit ?? 10,
    timezone: TIMEZONE,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
    multipleStatements: false,
    queryFormat: interpolate,
  }
}

/**
 * mysql2's own interpolation (the same call its default makes with these
 * options), except that a statement without parameters goes as it is: the
 * default scans all of its text for placeholders first, and the VALUES text
 * of a rebuild's inserts (statement-bytes.ts) is megabytes per page.
 */
function interpolate(sql: string, values: SqlValue[]): string {
  return values.length === 0 ? sql : format(sql, values, false, TIMEZONE)
}

export function createDb(opts: DbOptions): Kysely<Database> {
  const pool = createPool(poolOptions(opts))
  // Strict mode: a value that does not fit is an error, never a silent truncation
  // (the migrations' no-data-loss promise and the consumer's refusals rely on it).
  pool.on('connection', (conn) => {
    if (opts.onStatement) countStatements(conn, opts.onStatement)
    conn.query("SET time_zone = '+00:00', sql_mode = IF(@@sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@sql_mode, ',STRICT_ALL_TABLES'))")
  })
  return new Kysely<Database>({ dialect: new MysqlDialect({ pool }) })
}

/** Wraps one connection's query(), the one call the dialect makes per statement, to time it. */
function countStatements(conn: { query(...args: never[]): unknown }, on: (sql: string, ms: number) => void): void {
  const query = conn.query
  conn.query = (...args: never[]) => {
    const first: unknown = args[0]
    const text = typeof first === 'string' ? first : typeof first === 'object' && first !== null && 'sql' in first ? String(first.sql) : ''
    const started = performance.now()
    const last: unknown = args.at(-1)
    if (typeof last === 'function') {
      const timed = (...r: unknown[]) => { on(text, performance.now() - started); return last(...r) }
      return Reflect.apply(query, conn, [...args.slice(0, -1), timed])
    }
    on(text, 0)
    return Reflect.apply(query, conn, args)
  }
}

export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1))
  if (!name) throw new Error('DATABASE_URL names no database')
  return name
}
