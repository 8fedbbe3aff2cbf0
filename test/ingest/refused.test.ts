/**
 * A message the database refuses outright (no retry can store it) is isolated
 * by halving its chunk and dead-lettered alone; the rest of the partition is
 * applied and the consumer goes on. A deadlock is retried, not dead-lettered.
 * The consumer's metrics count what the rules decided.
 */
import type { Kafka } from 'kafkajs'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import type { Database } from '../../src/db/database.js'
import { EVENT_TYPES, type EventType } from '../../src/events/schemas.js'
import { pipeline } from '../../src/wiring.js'
import type { Pipeline } from '../../src/log/core.js'
import type { AnyProjection, Projection } from '../../src/log/projection.js'
import { createIngestConsumer } from '../../src/ingest/consumer.js'
import { Metrics } from '../../src/metrics.js'
import { registered, termination } from '../agent/fixtures/events.js'
import { freshDatabase } from '../helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { caughtUp, dump, produce } from './fixtures/steps.js'
import { mixedStream } from './fixtures/stream.js'

const dbError = (message: string, code: string, errno: number) => Object.assign(new Error(message), { code, errno })

/**
 * A handler that fails whenever a batch holds `eventId`: with `errors[0]`,
 * then `errors[1]`, ...; after the last one it succeeds, unless `forever`.
 */
function failingOn(eventId: string, errors: readonly Error[], opts: { forever?: boolean } = {}) {
  let thrown = 0
  const handler: Projection<EventType> = {
    name: 'fails-on-one-event',
    handles: EVENT_TYPES,
    tables: [],
    async apply(_trx, events) {
      if (!events.some((e) => e.eventId === eventId)) return
      if (thrown < errors.length) throw errors[thrown++]!
      if (opts.forever) throw errors.at(-1)!
    },
  }
  return { handler, thrown: () => thrown }
}

/** A consumer with metrics and a short backoff, on `topic`, stopped in teardown. */
async function startConsumer(t: Test, kafka: Kafka, db: Kysely<Database>, topic: string, extra: AnyProjection[] = [], chunkSize = 500): Promise<Metrics> {
  const metrics = new Metrics()
  const c = createIngestConsumer({
    kafka, db, metrics, groupId: uniqueName('g'), topics: [topic], pipeline: { ...pipeline(), projections: [...extra, ...pipeline().projections] },
    chunkSize, backoff: { initialMs: 20, maxMs: 100 },
  })
  t.teardown(() => c.stop())
  await c.start()
  return metrics
}

t.test('a message the database refuses is dead-lettered alone; the rest is applied', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topic = uniqueName('refused')
  const stream = mixedStream(topic, 3, 30)
  const poison = stream.unique[17]!
  const refusing = failingOn(poison.eventId, [dbError("Data too long for column 'x'", 'ER_DATA_TOO_LONG', 1406)], { forever: true })
  await produce(t, kafka, topic, stream)
  await startConsumer(t, kafka, db, topic, [refusing.handler], 50)
  await waitFor('caught up', () => caughtUp(db, kafka, topic))

  const d = await dump(db)
  t.equal(d.events.length, stream.unique.length - 1, 'every other valid event stored')
  t.notOk(d.events.some((e) => e.event_id === poison.eventId), 'the refused one is not in the log')
  const refused = d.dead.filter((r) => /^database refused: Data too long/.test(String((r as { reason: string }).reason)))
  t.equal(refused.length, 1, 'the refused message is dead-lettered with the database reason')
  t.equal(d.dead.length, stream.garbage + 1)
})

t.test('a bug in a handler is retried, never dead-lettered; a garbage message with a huge key still dead-letters', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topic = uniqueName('bug')
  const stream = mixedStream(topic, 2, 12)
  stream.messages.push({ key: 'k'.repeat(5000), value: 'not json, and a key longer than the column' })
  const victim = stream.unique[3]!
  const buggy = failingOn(victim.eventId, [new TypeError("Cannot read properties of undefined (reading 'poolId')")])
  await produce(t, kafka, topic, stream)
  const metrics = await startConsumer(t, kafka, db, topic, [buggy.handler])
  await waitFor('caught up', () => caughtUp(db, kafka, topic))
  t.equal(metrics.retries.get(), 1, 'the failing batch was retried')
  const d = await dump(db)
  t.ok(d.events.some((e) => e.event_id === victim.eventId), 'the event the bug tripped on is stored')
  t.equal(d.events.length, stream.unique.length)
  t.equal(d.dead.length, stream.garbage + 1, 'garbage, including the huge-key message, is dead-lettered')
  const [huge] = await db.selectFrom('dead_letter_events').select(['message_key', 'reason']).where('reason', 'like', 'invalid JSON%')
    .where(({ fn }) => fn('LENGTH', ['message_key']), '=', 1024).execute()
  t.ok(huge, 'its key is kept, cut to the column')
})

t.test('deadlocks and lock wait timeouts are retried: nothing lost, nothing dead-lettered', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topic = uniqueName('deadlock')
  const stream = mixedStream(topic, 3, 20)
  const victim = stream.unique[7]!
  const flaky = failingOn(victim.eventId, [
    dbError('Deadlock found when trying to get lock', 'ER_LOCK_DEADLOCK', 1213),
    dbError('Lock wait timeout exceeded', 'ER_LOCK_WAIT_TIMEOUT', 1205),
  ])
  await produce(t, kafka, topic, stream)
  const metrics = await startConsumer(t, kafka, db, topic, [flaky.handler])
  await waitFor('caught up', () => caughtUp(db, kafka, topic))
  t.equal(flaky.thrown(), 2)
  t.equal(metrics.retries.get(), 2, 'both retried')
  const d = await dump(db)
  t.equal(d.events.length, stream.unique.length, 'every valid event stored')
  t.ok(d.events.every((e) => Number(e.n) === 1), 'none twice')
  t.equal(d.dead.length, stream.garbage, 'only the garbage is dead-lettered')
})

t.test('metrics count consumed events, decisions and failovers', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topic = uniqueName('metrics')
  const producer = await connectedProducer(t, kafka)
  const events = [registered(), termination()]
  await producer.send({ topic, messages: events.map((e) => ({ key: e.agentId, value: JSON.stringify(e) })) })
  const metrics = await startConsumer(t, kafka, db, topic)
  await waitFor('applied', () => metrics.eventsConsumed.get({ type: 'spot.termination_notice' }) === 1)
  t.equal(metrics.eventsConsumed.get({ type: 'agent.registered' }), 1)
  t.equal(metrics.decisions.get({ action: 'emergency-snapshot' }), 1, 'a termination notice without a replica: emergency snapshot')
  t.equal(metrics.failovers.get(), 0)
  t.equal(metrics.emergencySnapshots.get(), 1)
  t.equal(metrics.decisionSeconds.count(), 1, 'decision latency observed')
  t.ok(metrics.decisionSeconds.sum() > 0)
  const text = await metrics.text()
  t.match(text, /spotfleet_decisions_total\{action="emergency-snapshot"\} 1/)
  t.match(text, /spotfleet_decision_latency_seconds_count 1/)
  t.match(text, /process_cpu_seconds_total/, 'default process metrics')
})
