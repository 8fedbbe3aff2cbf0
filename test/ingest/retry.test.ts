/** Which database failures are retried, and the backoff between tries. */
import t from 'tap'
import { backoffDelay, isRefusal, isTransient } from '../../src/ingest/retry.js'

const err = (fields: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), fields)

t.test('transient: lost connections, deadlocks, lock waits, server gone', async (t) => {
  for (const e of [
    err({ code: 'ER_LOCK_DEADLOCK', errno: 1213 }), err({ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }),
    err({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }), err({ code: 'ECONNREFUSED' }), err({ code: 'ECONNRESET' }),
    err({ errno: 2013 }), err({}, 'Pool is closed.'), err({}, "Can't add new command when connection is in closed state"),
  ]) t.ok(isTransient(e), `${(e as { code?: string }).code ?? e.message} is transient`)
})

t.test('refusals of the data are not transient', async (t) => {
  for (const e of [
    err({ code: 'ER_DATA_TOO_LONG', errno: 1406 }), err({ code: 'ER_DUP_ENTRY', errno: 1062 }),
    err({ code: 'ER_TRUNCATED_WRONG_VALUE', errno: 1292 }), err({ code: 'ER_NO_SUCH_TABLE', errno: 1146 }),
    new TypeError('bug'), 'a string',
  ]) t.notOk(isTransient(e), `${String((e as { code?: string }).code ?? e)} is not transient`)
})

t.test('only refusals of the data itself are isolated and dead-lettered', async (t) => {
  for (const e of [
    err({ code: 'ER_DATA_TOO_LONG', errno: 1406 }), err({ code: 'ER_DUP_ENTRY', errno: 1062 }), err({ code: 'ER_BAD_NULL_ERROR', errno: 1048 }),
    err({ code: 'ER_WARN_DATA_OUT_OF_RANGE', errno: 1264 }), err({ code: 'ER_TRUNCATED_WRONG_VALUE', errno: 1292 }),
  ]) t.ok(isRefusal(e), `${String((e as { code?: unknown }).code)} is a refusal`)
  for (const e of [
    new TypeError('a bug'), err({ code: 'ER_OPTION_PREVENTS_STATEMENT', errno: 1290 }), err({ code: 'ER_NO_SUCH_TABLE', errno: 1146 }),
    err({ code: 'ER_LOCK_DEADLOCK', errno: 1213 }), err({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }), 'a string', null,
  ]) t.notOk(isRefusal(e), `${String((e as { code?: string } | null)?.code ?? e)} is retried, not dead-lettered`)
})

t.test('backoff grows exponentially, capped, with jitter in the upper half', async (t) => {
  const b = { initialMs: 100, maxMs: 1000 }
  for (let attempt = 0; attempt < 8; attempt++) {
    const cap = Math.min(1000, 100 * 2 ** attempt)
    for (let i = 0; i < 20; i++) {
      const d = backoffDelay(attempt, b)
      t.ok(d >= cap / 2 && d <= cap, `attempt ${attempt}: ${d.toFixed(0)} ms within [${cap / 2}, ${cap}]`)
    }
  }
})
