/**
 * How the consumer treats a failure: a refusal of the data itself (a value
 * the database will never store) is isolated and dead-lettered; anything
 * else, transient (connection lost, deadlock, lock wait) or not (a bug, a
 * read-only server), is retried with backoff, so nothing is ever skipped
 * because the code or the server misbehaved.
 */
const TRANSIENT_CODES = new Set([
  'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN',
  'ER_QUERY_INTERRUPTED', 'ER_CONNECTION_KILLED', 'ER_NET_READ_INTERRUPTED', 'ER_NET_WRITE_INTERRUPTED',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
])

/** 1213 deadlock, 1205 lock wait, 2006/2013 gone away / lost, 1927 killed, 4031 idle timeout. */
const TRANSIENT_ERRNOS = new Set([1205, 1213, 1040, 1053, 1317, 1927, 2006, 2013, 4031])

export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const e = err as Error & { code?: string, errno?: number, fatal?: boolean }
  if (e.fatal) return true
  if (e.code && TRANSIENT_CODES.has(e.code)) return true
  if (e.errno && TRANSIENT_ERRNOS.has(e.errno)) return true
  return /Pool is closed|Connection lost|closed state|Can't add new command when connection is in closed state/i.test(e.message)
}

/** Errors that say this row can never be stored: duplicate, NULL, out of range, truncated, bad value, too long, bad JSON. */
const REFUSAL_ERRNOS = new Set([1048, 1062, 1153, 1264, 1265, 1292, 1366, 1406, 3140])

export function isRefusal(err: unknown): boolean {
  const errno = (err as { errno?: unknown } | null)?.errno
  return err instanceof Error && typeof errno === 'number' && REFUSAL_ERRNOS.has(errno)
}

export interface Backoff {
  initialMs: number
  maxMs: number
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 100, maxMs: 5_000 }

/** Capped exponential backoff with full jitter on the upper half. */
export function backoffDelay(attempt: number, b: Backoff = DEFAULT_BACKOFF): number {
  const cap = Math.min(b.maxMs, b.initialMs * 2 ** attempt)
  return cap / 2 + Math.random() * (cap / 2)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
