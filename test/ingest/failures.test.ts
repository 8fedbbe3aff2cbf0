/**
 * Ingestion under failure: a consumer process killed with SIGKILL mid-stream
 * and restarted, and a database that vanishes during consumption. The end
 * state must equal an uninterrupted run's, and no Kafka offset may be
 * committed past an event that is not in the database.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { createDb } from '../../src/db/connect.js'
import { freshDatabase } from '../helper-db.js'
import { kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { tcpProxy } from '../helper-proxy.js'
import { caughtUp, checkpoints, consumerFor, dump, produce } from './fixtures/steps.js'
import { mixedStream } from './fixtures/stream.js'

const CHILD = fileURLToPath(new URL('./fixtures/consume-child.ts', import.meta.url))
const tsLoader = process.execArgv.filter((a) => a.includes('typescript'))

function startChild(t: Test, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [...tsLoader, CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  return child
}

const exited = (c: ChildProcess) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(null) : c.once('exit', resolve)))

t.test('a consumer killed mid-stream and restarted ends where an uninterrupted run ends', async (t) => {
  const kafka = kafkaFor()
  const topic = uniqueName('kill')
  const stream = mixedStream(topic, 8, 60)
  await produce(t, kafka, topic, stream)

  // The reference: one uninterrupted run into its own database.
  const reference = await freshDatabase(t, { migrate: true })
  const ref = consumerFor(t, kafka, reference.db, topic, uniqueName('ref'))
  await ref.start()
  await waitFor('reference run', () => caughtUp(reference.db, kafka, topic))

  const victim = await freshDatabase(t, { migrate: true })
  const env = {
    DATABASE_URL: `${victim.url.replace(/\/[^/]*$/, '')}/${victim.name}`, GROUP_ID: uniqueName('victim'), TOPICS: topic, CHUNK: '10',
  }
  const first = startChild(t, env)
  const applied = await waitFor('some progress', async () => {
    const n = [...(await checkpoints(victim.db, topic)).values()].reduce((a, b) => a + b + 1n, 0n)
    return n >= 20n ? n : 0n
  })
  first.kill('SIGKILL')
  await exited(first)
  t.ok(applied < BigInt(stream.messages.length), `killed after ${applied} of ${stream.messages.length} messages`)

  startChild(t, env)
  await waitFor('restarted run to catch up', () => caughtUp(victim.db, kafka, topic), 90_000)
  const expected = await dump(reference.db)
  t.equal(expected.agents.length, 8, 'the reference folded every agent')
  t.same(await dump(victim.db), expected, 'same rows as the uninterrupted run')
})

t.test('the database vanishes during consumption: nothing lost, nothing committed early', async (t) => {
  const kafka = kafkaFor()
  const topic = uniqueName('outage')
  const stream = mixedStream(topic, 6, 60)
  const { db, url, name } = await freshDatabase(t, { migrate: true })
  const mariadbPort = Number(new URL(url).port || 3306)
  const proxy = await tcpProxy(mariadbPort, new URL(url).hostname)
  t.teardown(() => proxy.close())
  const viaProxy = createDb({ url: `mysql://${new URL(url).username}@127.0.0.1:${proxy.port}/${name}`, connectionLimit: 2 })
  t.teardown(() => viaProxy.destroy())

  const groupId = uniqueName('g')
  const consumer = consumerFor(t, kafka, viaProxy, topic, groupId, undefined, 10)
  await consumer.start()
  await produce(t, kafka, topic, { ...stream, messages: stream.messages.slice(0, 100) })
  await waitFor('first messages applied', async () => (await db.selectFrom('event_log').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n as number > 0)

  await proxy.cut()
  await produce(t, kafka, topic, { ...stream, messages: stream.messages.slice(100) })
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  // While the database is away, every committed offset must be covered by stored rows.
  const outageEnds = Date.now() + 3_000
  let samples = 0
  while (Date.now() < outageEnds) {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
    const stored = await checkpoints(db, topic)
    for (const p of committed!.partitions) {
      if (p.offset === '-1') continue
      t.ok(BigInt(p.offset) <= (stored.get(p.partition) ?? -1n) + 1n, `partition ${p.partition}: committed ${p.offset} is within the stored checkpoint`)
      samples++
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  t.ok(samples > 0, 'sampled committed offsets during the outage')
  await proxy.restore()

  await waitFor('consumption to resume and catch up', () => caughtUp(db, kafka, topic), 90_000)
  const d = await dump(db)
  t.equal(d.events.length, stream.unique.length, 'every valid event stored')
  t.ok(d.events.every((e) => Number(e.n) === 1), 'none twice')
  t.equal(d.dead.length, stream.garbage, 'garbage dead-lettered, nothing else')
})
