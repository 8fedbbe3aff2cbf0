/**
 * The relay against a broker that enforces a size limit: requests are cut by
 * bytes, a dead letter over the message limit or refused by the broker is
 * marked with the refusal and the others go on, and a wake() is never lost,
 * even while the relay is busy.
 */
import { randomUUID } from 'node:crypto'
import kafkajs, { type Kafka, type KafkaMessage, type Producer } from 'kafkajs'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import type { Database } from '../../src/db/database.js'
import { createOutboxRelay, relayOnce } from '../../src/ingest/outbox-relay.js'
import { Metrics } from '../../src/metrics.js'
import { connection, freshDatabase } from '../helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { startMockBroker } from './fixtures/mock-broker.js'

/** Kafka's default limit: the mock broker closes the connection on a bigger request. */
const ONE_MB = { 'receive.message.max.bytes': '1048576', 'fetch.max.bytes': '1000000' }

async function collect(t: Test, kafka: Kafka, topic: string): Promise<KafkaMessage[]> {
  const got: KafkaMessage[] = []
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 200 })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { got.push(message) } })
  return got
}

async function insertDeadLetters(db: Kysely<Database>, topic: string, sizes: number[]): Promise<void> {
  await db.insertInto('dead_letter_events').values(sizes.map((bytes, i) => ({
    topic, partition_no: 0, offset_no: i, message_key: Buffer.from(`k${i}`), raw_value: Buffer.alloc(bytes, 'v'), reason: `schema: test ${i}`,
  }))).execute()
}

const countWhere = async (db: Kysely<Database>, column: 'published_at' | 'publish_refused_at') =>
  (await db.selectFrom('dead_letter_events').select('id').where(column, 'is not', null).execute()).length

t.test('200 dead letters of 6 kB reach a broker that takes at most 1 MB per request', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const broker = await startMockBroker(t, ONE_MB)
  const kafka = broker.kafka()
  const producer = await connectedProducer(t, kafka)
  const topic = uniqueName('src')
  await insertDeadLetters(db, topic, Array.from({ length: 200 }, () => 6_000))
  const relay = createOutboxRelay({ db, producer, commandsTopic: uniqueName('c'), log: kafka.logger(), pollMs: 50 })
  relay.start()
  t.teardown(() => relay.stop())
  await waitFor('all 200 marked published', async () => (await countWhere(db, 'published_at')) === 200, 30_000)
  const got = await collect(t, kafka, `${topic}.dlq`)
  await waitFor('all 200 on the dlq topic', () => got.length === 200, 30_000)
  t.same(got.map((m) => Number(String(m.headers?.['original-offset']))).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i), 'each once')
})

t.test('a dead letter over the message limit is marked with the refusal; the others are published', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const broker = await startMockBroker(t, ONE_MB)
  const kafka = broker.kafka()
  const producer = await connectedProducer(t, kafka)
  const topic = uniqueName('src')
  await insertDeadLetters(db, topic, [10, 1_500_000, 20])
  const metrics = new Metrics()
  while ((await relayOnce({ db, producer, commandsTopic: uniqueName('c'), log: kafka.logger(), metrics })) > 0) { /* drain */ }
  const rows = await db.selectFrom('dead_letter_events').select(['offset_no', 'published_at', 'publish_refused_at', 'publish_error']).orderBy('offset_no').execute()
  t.same(rows.map((r) => r.published_at !== null), [true, false, true], 'the small ones are published')
  t.ok(rows[1]!.publish_refused_at, 'the big one is marked refused')
  t.match(rows[1]!.publish_error, /larger than the broker's message limit: 1500\d{3} > 1000000 bytes/)
  t.equal(metrics.deadLettersRefused.get(), 1)
})

/**
 * The mock broker refuses nothing by content, so the producer here answers
 * like a real broker would (kafkajs's own error for MESSAGE_TOO_LARGE, code
 * 10) for one record and passes everything else to the real broker.
 */
function refusingOffset(real: Producer, offset: string): Producer {
  // kafkajs is CommonJS and spreads its errors into its exports: Node cannot name them in an ESM import.
  const { KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs
  const refuse = () => {
    const protocol = new KafkaJSProtocolError(Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false }))
    return Object.assign(new KafkaJSNonRetriableError(protocol), { cause: protocol })
  }
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop !== 'sendBatch') return Reflect.get(target, prop, receiver)
      return async (batch: Parameters<Producer['sendBatch']>[0]) => {
        if (batch.topicMessages?.some((tm) => tm.messages.some((m) => String(m.headers?.['original-offset']) === offset))) throw refuse()
        return target.sendBatch(batch)
      }
    },
  })
}

t.test('a dead letter the broker refuses is isolated and marked with the broker\'s refusal; the others go on', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const producer = refusingOffset(await connectedProducer(t, kafka), '13')
  const topic = uniqueName('src')
  await insertDeadLetters(db, topic, Array.from({ length: 40 }, () => 100))
  while ((await relayOnce({ db, producer, commandsTopic: uniqueName('c'), log: kafka.logger() })) > 0) { /* drain */ }
  t.equal(await countWhere(db, 'published_at'), 39, 'every other one published')
  const refused = await db.selectFrom('dead_letter_events').select(['offset_no', 'publish_error']).where('publish_refused_at', 'is not', null).execute()
  t.same(refused.map((r) => Number(r.offset_no)), [13], 'only the refused one is marked')
  t.match(refused[0]!.publish_error, /^MESSAGE_TOO_LARGE: /)
})

t.test('a wake() while the relay is busy is not lost', async (t) => {
  const { db, url, name } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const producer = await connectedProducer(t, kafka)
  const relay = createOutboxRelay({ db, producer, commandsTopic: uniqueName('c'), log: kafka.logger(), pollMs: 120_000 })
  // Hold the relay in its dead-letter read, after it found no command.
  const locker = await connection(url, name)
  t.teardown(() => locker.end())
  await locker.query('LOCK TABLES dead_letter_events WRITE')
  relay.start()
  t.teardown(() => relay.stop())
  await waitFor('the relay waiting for the dead-letter table', async () => {
    const [rows] = await locker.query("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'select%dead_letter_events%' AND STATE LIKE '%lock%'")
    return (rows as unknown[]).length > 0
  }, 15_000)
  const commandId = randomUUID()
  await db.insertInto('outbox').values({ command_id: commandId, type: 'command.terminate_replica', client_id: null, agent_id: randomUUID(), payload: JSON.stringify({ eventId: commandId }), cause_event_id: null }).execute()
  relay.wake()
  await locker.query('UNLOCK TABLES')
  await waitFor('the command published without waiting for the next poll', async () => (await db.selectFrom('outbox').select('sent_at').executeTakeFirstOrThrow()).sent_at !== null, 15_000)
  t.pass('published')
})
