/**
 * The outbox relay: commands reach `replica-commands` in per-agent order; a
 * crash between publish and mark re-publishes (at least once, order kept);
 * dead letters reach `<topic>.dlq` with their reason.
 */
import { randomUUID } from 'node:crypto'
import type { KafkaMessage } from 'kafkajs'
import t, { type Test } from 'tap'
import { createDb } from '../../src/db/connect.js'
import { createOutboxRelay, relayOnce } from '../../src/ingest/outbox-relay.js'
import { freshDatabase } from '../helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'

async function collect(t: Test, kafka: ReturnType<typeof kafkaFor>, topic: string) {
  const got: KafkaMessage[] = []
  const consumer = kafka.consumer({ groupId: uniqueName('reader') })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { got.push(message) } })
  return got
}

t.test('crash after publish, before mark: re-published, per-agent order kept', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const producer = await connectedProducer(t, kafka)
  const topic = uniqueName('commands')
  const agents = [randomUUID(), randomUUID()]
  const rows = Array.from({ length: 10 }, (_, i) => {
    const agentId = agents[i % 2]!
    const commandId = randomUUID()
    return { command_id: commandId, type: 'command.terminate_replica', client_id: null, agent_id: agentId, payload: JSON.stringify({ eventId: commandId, seq: i }), cause_event_id: null }
  })
  await db.insertInto('outbox').values(rows).execute()
  const log = kafka.logger()

  await t.rejects(relayOnce({ db, producer, commandsTopic: topic, log, batchSize: 6, afterPublish: () => { throw new Error('crash') } }), /crash/)
  t.equal((await db.selectFrom('outbox').select('id').where('sent_at', 'is not', null).execute()).length, 0, 'nothing marked after the crash')
  while ((await relayOnce({ db, producer, commandsTopic: topic, log, batchSize: 6 })) > 0) { /* drain */ }
  t.equal((await db.selectFrom('outbox').select('id').where('sent_at', 'is', null).execute()).length, 0, 'all marked')

  const got = await collect(t, kafka, topic)
  await waitFor('all commands', () => new Set(got.map((m) => JSON.parse(String(m.value)).eventId)).size === rows.length)
  await waitFor('the re-published ones', () => got.length >= rows.length + 6)
  for (const agent of agents) {
    const seqs = got.filter((m) => String(m.key) === agent).map((m) => JSON.parse(String(m.value)).seq as number)
    const firstSeen = seqs.filter((s, i) => seqs.indexOf(s) === i)
    t.same(firstSeen, [...firstSeen].sort((a, b) => a - b), `agent ${agent.slice(0, 8)}: first deliveries in order`)
    t.same(seqs.slice(seqs.lastIndexOf(firstSeen[0]!)), firstSeen.slice(0), `agent ${agent.slice(0, 8)}: the re-publication is itself in order`)
  }
})

t.test('dead letters reach <topic>.dlq with their reason', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const producer = await connectedProducer(t, kafka)
  const topic = uniqueName('src')
  await db.insertInto('dead_letter_events').values({ topic, partition_no: 2, offset_no: 7, message_key: Buffer.from('k'), raw_value: Buffer.from('not json'), reason: 'invalid JSON: Unexpected token' }).execute()
  t.equal(await relayOnce({ db, producer, commandsTopic: uniqueName('c'), log: kafka.logger() }), 1)
  const got = await collect(t, kafka, `${topic}.dlq`)
  await waitFor('the dead letter', () => got.length === 1)
  t.equal(String(got[0]!.value), 'not json')
  t.equal(String(got[0]!.headers?.reason), 'invalid JSON: Unexpected token')
  t.equal(String(got[0]!.headers?.['original-offset']), '7')
  t.equal((await db.selectFrom('dead_letter_events').select('published_at').executeTakeFirstOrThrow()).published_at === null, false, 'marked published')
})

t.test('running relays of two databases on one server both publish (the lock is per database)', async (t) => {
  const kafka = kafkaFor()
  const producer = await connectedProducer(t, kafka)
  const topic = uniqueName('commands')
  for (const { db } of [await freshDatabase(t, { migrate: true }), await freshDatabase(t, { migrate: true })]) {
    const commandId = randomUUID()
    await db.insertInto('outbox').values({ command_id: commandId, type: 'command.terminate_replica', client_id: null, agent_id: randomUUID(), payload: JSON.stringify({ eventId: commandId }), cause_event_id: null }).execute()
    const relay = createOutboxRelay({ db, producer, commandsTopic: topic, log: kafka.logger(), pollMs: 50 })
    relay.start()
    t.teardown(() => relay.stop())
    await waitFor('this database\'s relay to publish', async () => (await db.selectFrom('outbox').select('sent_at').executeTakeFirstOrThrow()).sent_at !== null, 15_000)
    t.pass('published and marked')
  }
})

t.test('a wake for commands only does not read the dead letters; one written without a wake (another instance) is still published within the poll interval', async (t) => {
  const { url, name } = await freshDatabase(t, { migrate: true })
  let deadLetterReads = 0
  const db = createDb({ url, database: name, connectionLimit: 2, onStatement: (text) => { if (/^select .*dead_letter_events/i.test(text)) deadLetterReads++ } })
  t.teardown(() => db.destroy())
  const kafka = kafkaFor()
  const producer = await connectedProducer(t, kafka)
  const topic = uniqueName('src')
  const got = await collect(t, kafka, `${topic}.dlq`)
  const relay = createOutboxRelay({ db, producer, commandsTopic: uniqueName('c'), log: kafka.logger(), pollMs: 400 })
  relay.start()
  t.teardown(() => relay.stop())
  await waitFor('the relay holding its lock', () => relay.isHolder(), 15_000)

  // Wakes for commands only, every 10 ms: the wait never runs out, yet the dead letters are read at most once per poll interval.
  const waking = setInterval(() => relay.wake(false), 10)
  t.teardown(() => clearInterval(waking))
  const before = deadLetterReads
  await new Promise((r) => setTimeout(r, 2_000))
  const during = deadLetterReads - before
  t.ok(during >= 2 && during <= 7, `${during} reads of the dead letters in 2 s of commands-only wakes (poll interval 400 ms)`)

  await db.insertInto('dead_letter_events').values({ topic, partition_no: 0, offset_no: 1, message_key: null, raw_value: Buffer.from('x'), reason: 'schema: test' }).execute()
  const writtenAt = Date.now()
  await waitFor('the dead letter marked published', async () => (await db.selectFrom('dead_letter_events').select('published_at').executeTakeFirstOrThrow()).published_at !== null, 15_000, 10)
  const after = Date.now() - writtenAt
  t.ok(after < 1_500, `published ${after} ms after it was written, with only commands-only wakes meanwhile (poll interval 400 ms)`)
  clearInterval(waking)
  await waitFor('the dead letter on the dlq topic', () => got.length === 1, 15_000)

  // A wake that says dead letters were written reads them at once.
  const reads = deadLetterReads
  relay.wake(true)
  await waitFor('a read of the dead letters after wake(true)', () => deadLetterReads > reads, 300, 5)
})
