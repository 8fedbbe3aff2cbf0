/**
 * What a newcomer meets first: a database that refuses, a broker that is not
 * there, a database never migrated. Each becomes one line saying what failed
 * where and what to do, instead of retries logged as JSON and a stack trace.
 * `serve` runs the checks before it starts anything; the command line maps
 * the same errors to the same lines for every command (describeStartupError).
 */
import { Kafka, logLevel } from 'kafkajs'
import type { Kysely } from 'kysely'
import { sql } from 'kysely'
import { LOCAL_SERVERS_HINT } from './config.js'
import { migrationStatus } from './db/migrate.js'

export class StartupError extends Error {
  override name = 'StartupError'
}


const SOCKET_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused', ENOTFOUND: 'unknown host', EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out', EHOSTUNREACH: 'host unreachable', ECONNRESET: 'connection reset',
}

function where(url: string): { host: string, user: string, password: boolean, database: string } {
  try {
    const u = new URL(url)
    return { host: `${u.hostname}:${u.port || 3306}`, user: decodeURIComponent(u.username), password: u.password !== '', database: decodeURIComponent(u.pathname.slice(1)) }
  } catch {
    return { host: '?', user: '?', password: false, database: '?' }
  }
}

/** A socket error code, also from inside an AggregateError (Node tries every address of a host). */
function socketCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined
  if (code && code in SOCKET_REASONS) return code
  if (err instanceof AggregateError) for (const e of err.errors) { const c = socketCode(e); if (c) return c }
  return undefined
}

/** One line for a database error a newcomer meets at start, or undefined for any other error. */
export function describeDatabaseError(err: unknown, url: string): string | undefined {
  const w = where(url)
  const code = socketCode(err)
  if (code) return `database: cannot connect to ${w.host} (${SOCKET_REASONS[code]}); is MariaDB running? ${LOCAL_SERVERS_HINT}`
  const mysqlCode = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
  if (mysqlCode === 'ER_ACCESS_DENIED_ERROR' || mysqlCode === 'ER_DBACCESS_DENIED_ERROR' || mysqlCode === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR') {
    return `database: ${w.host} refused the login of user '${w.user}' (${w.password ? 'with' : 'without'} a password); check the user and password in DATABASE_URL`
  }
  if (mysqlCode === 'ER_BAD_DB_ERROR') return `database: \`${w.database}\` does not exist on ${w.host}: run spotfleet migrate (it creates the database)`
  return undefined
}

/** The database answers and every migration has run; else a StartupError saying what to do. */
export async function checkDatabase(db: Kysely<any>, url: string): Promise<void> {
  try {
    await sql`SELECT 1`.execute(db)
  } catch (err) {
    throw new StartupError(describeDatabaseError(err, url) ?? `database: ${(err as Error).message}`)
  }
  const pending = (await migrationStatus(db)).filter((m) => m.executedAt === undefined).map((m) => m.name)
  if (pending.length > 0) {
    throw new StartupError(`database \`${where(url).database}\` is not migrated (pending: ${pending.join(', ')}): run spotfleet migrate`)
  }
}

/**
 * Connects to the brokers once, briefly (a few seconds, not kafkajs's default
 * minute of retries, each logged), so a wrong or stopped broker is one line.
 */
export async function checkBroker(brokers: readonly string[], timeoutMs = 5_000): Promise<void> {
  const kafka = new Kafka({
    clientId: 'spotfleet-startup-check', brokers: [...brokers], logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(3_000, timeoutMs), retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 1_000 },
  })
  const admin = kafka.admin()
  try {
    await admin.connect()
  } catch (err) {
    let cause: unknown = err
    while (typeof cause === 'object' && cause !== null && 'cause' in cause && cause.cause) cause = cause.cause
    const code = socketCode(cause)
    const why = code ? SOCKET_REASONS[code] : (cause as Error)?.message ?? String(cause)
    throw new StartupError(`broker: cannot connect to ${brokers.join(',')} (${why}); check KAFKA_BROKERS (${LOCAL_SERVERS_HINT})`)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}
