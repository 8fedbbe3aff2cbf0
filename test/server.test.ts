/**
 * `spotfleet serve` as a real process: /readyz turns 200 once the database
 * answers and the consumer joined its group, an event produced to a topic is
 * stored, /metrics counts it, and SIGTERM ends in a graceful exit 0.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createEventProducer, newEvent } from '../src/events/producer.js'
import { freshDatabase } from './helper-db.js'
import { kafkaFor, uniqueName, uniqueTopics, waitFor } from './helper-kafka.js'

const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
const tsLoader = process.execArgv.filter((a) => a.includes('typescript'))

t.test('serve: ready, consumes, graceful SIGTERM exits 0', async (t) => {
  const { url, name, db } = await freshDatabase(t, { migrate: true })
  const topics = uniqueTopics()
  const port = 20000 + Math.floor(Math.random() * 20000)
  const child = spawn(process.execPath, [...tsLoader, BIN, 'serve'], {
    env: {
      ...process.env, DATABASE_URL: `${url.replace(/\/[^/]*$/, '')}/${name}`, PORT: String(port), LOG_LEVEL: 'info',
      KAFKA_GROUP_ID: uniqueName('serve'), TOPIC_SPOT_INTERRUPTIONS: topics.spotInterruptions, TOPIC_REPLICA_EVENTS: topics.replicaEvents,
      TOPIC_AGENT_EVENTS: topics.agentEvents, TOPIC_PRICING_SNAPSHOTS: topics.pricingSnapshots, TOPIC_REPLICA_COMMANDS: topics.replicaCommands,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    child.kill('SIGKILL')
    if (!t.passing()) console.error(output)
  })

  const base = `http://127.0.0.1:${port}`
  // Starting takes a while on a loaded 2-core machine (ts-node compiles every module, the consumer joins its group first).
  await waitFor('healthz', async () => (await fetch(`${base}/healthz`)).ok, 120_000)
  await waitFor('readyz 200', async () => (await fetch(`${base}/readyz`)).status === 200, 60_000)
  const ready = await (await fetch(`${base}/readyz`)).json()
  t.match(ready, { ready: true, database: true, consumer: true, lag: { total: Number } })
  t.same(Object.keys(ready.assignment).sort(), Object.values(topics).filter((x) => x !== topics.replicaCommands).sort(), 'alone in its group: assigned every consumed topic')

  const kafka = kafkaFor()
  const producer = createEventProducer(kafka, topics)
  await producer.connect()
  t.teardown(() => producer.disconnect())
  const e = newEvent('instance.metrics', { clientId: crypto.randomUUID(), agentId: crypto.randomUUID(), data: { instanceId: 'i-1', cpu: 12.5, memory: 40 } })
  await producer.send([e])
  await waitFor('event stored', () => db.selectFrom('instance_metrics').select('event_id').where('event_id', '=', e.eventId).executeTakeFirst())
  t.match(await (await fetch(`${base}/metrics`)).text(), /spotfleet_events_consumed_total\{type="instance.metrics"\} 1/)

  child.kill('SIGTERM')
  t.equal(await exit, 0, 'exit code 0 after SIGTERM')
  t.match(output, /stopped/, 'logged a graceful stop')
})
