// event_log rows keep the envelope in their columns and the rest in the
// payload: every kind of stored event reads back equal through the real
// server, whatever form its occurredAt has, and rows written whole (before
// the envelope moved to the columns) still read.
import fc from 'fast-check'
import t from 'tap'
import { newEvent } from '../../src/events/producer.js'
import { appendInputs, appendProduced, readLog } from '../../src/log/event-log.js'
import { LOG_EVENT_COLUMNS, type StoredEvent, logRowOf, storedEventOfRow } from '../../src/log/stored-event.js'
import { at, decision, heartbeat, rebalance, termination, user, uuid } from '../agent/fixtures/events.js'
import { propertySeed } from '../agent/fixtures/random.js'
import { freshDatabase } from '../helper-db.js'

// Forms a producer may send: canonical UTC, no milliseconds, an offset, more digits than a DATETIME(3) keeps.
const TIMES = ['2026-11-24T18:00:00.000Z', '2026-11-24T18:00:00Z', '2026-11-24T20:00:00.125+02:00', '2026-11-24T18:00:00.1234Z', '1970-01-01T00:00:00.000Z']

function eventsOf(n: number, time: string) {
  const input = termination({ eventId: uuid(n, 1), at: time })
  const inputs: StoredEvent[] = [
    input,
    heartbeat({ eventId: uuid(n, 2), at: time, spotPrice: '0.0345' }),
    rebalance({ eventId: uuid(n, 3), at: time }),
    user('user.replica_promote_requested', { replicaId: uuid(n, 4) }, { eventId: uuid(n, 5), at: time }),
  ]
  const command = newEvent('command.emergency_snapshot', { eventId: uuid(n, 7), clientId: input.clientId, agentId: input.agentId, data: { instanceId: 'i-primary' } })
  const promoted = decision('decision.replica_promoted', {
      replicaId: uuid(n, 4), oldInstanceId: 'i-primary', newInstanceId: 'i-replica', oldPoolId: 'm5.large.us-east-1a', newPoolId: 'm5.large.us-east-1b',
      onDemandPrice: '0.096', oldSpotPrice: '0.0345', newSpotPrice: '0.032', effectiveAt: time,
    }, input.eventId, { eventId: uuid(n, 6), at: time })
  return { input, inputs, promoted, command }
}

t.test('every stored event reads back equal, and its payload leaves the envelope to the columns', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const seed = propertySeed()
  let n = 0
  await fc.assert(fc.asyncProperty(fc.constantFrom(...TIMES), fc.boolean(), async (time, asCommand) => {
    n++
    const { input, inputs, promoted, command } = eventsOf(n, time)
    const produced = asCommand ? [promoted, command] : [promoted]
    const events = [...inputs, ...produced]
    await db.transaction().execute(async (trx) => {
      await appendInputs(trx, inputs.map((event) => ({ event, source: 'kafka' as const })))
      await appendProduced(trx, produced.map((event) => ({ event, cause: input.eventId })))
    })
    const rows = await db.selectFrom('event_log').select(LOG_EVENT_COLUMNS).where('event_id', 'in', events.map((e) => e.eventId)).orderBy('seq').execute()
    const back = rows.map(storedEventOfRow)
    t.same(back, events, `read back equal (${time}, seed ${seed})`)
    for (const r of rows) {
      const payload: unknown = JSON.parse(r.payload)
      t.notOk(typeof payload === 'object' && payload !== null && ('eventId' in payload || 'type' in payload || 'agentId' in payload), 'no envelope id, type or agent in the payload')
    }
  }), { seed, numRuns: 10 })
})

t.test('a row written whole still reads, and readLog attaches what an input caused', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const input = termination({ eventId: uuid(1, 11), at: at(1) })
  const caused = decision('decision.replica_promoted', {
    replicaId: uuid(1, 12), oldInstanceId: 'i-primary', newInstanceId: 'i-replica', oldPoolId: 'm5.large.us-east-1a', newPoolId: 'm5.large.us-east-1b',
    onDemandPrice: '0.096', oldSpotPrice: null, newSpotPrice: '0.032', effectiveAt: at(1),
  }, input.eventId, { eventId: uuid(1, 13), at: at(1) })
  // As rows were written before: the whole event in the payload.
  await db.insertInto('event_log').values([
    { ...logRowOf(input, 'kafka'), payload: JSON.stringify(input) },
    { ...logRowOf(caused, 'decision'), payload: JSON.stringify(caused) },
  ]).execute()
  const page = await readLog(db, { afterSeq: 0, limit: 10 })
  t.same(page.inputs.map((i) => [i.event, i.caused]), [[input, [caused]]])
})
