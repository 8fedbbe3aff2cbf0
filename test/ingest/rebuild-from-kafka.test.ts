/**
 * replay --from kafka on the real broker and MariaDB: a mixed stream on the
 * four input topics (registrations, heartbeats with prices, pool prices,
 * metrics, rebalance recommendations, termination notices, the agents' own
 * switches, re-sent duplicates and garbage) is ingested live into database A;
 * then a fresh database B is rebuilt from the topics' retained history. B's
 * event_log and every projection table equal A's, row for row.
 *
 * The rules decide again in B, at the rebuild's time: both pipelines get the
 * same clock here, so durations measured from it (response times, clock
 * skew) compare too. Rebalances are ignored (REBALANCE_POLICY=ignore), as no
 * replica ids are drawn that way. Signals go to agents that never switch:
 * one naming an instance the agent left later is answered by which topic was
 * read first (found by this test; not fixed yet). What differs by design is
 * left out of the comparison: decisions' own ids, and the parking records (an input that
 * arrived before its agent's registration on another topic), which say in
 * what order the topics were read, not what happened.
 */
import { type Kysely, sql } from 'kysely'
import type { Message } from 'kafkajs'
import t from 'tap'
import type { Database } from '../../src/db/database.js'
import { newEvent } from '../../src/events/producer.js'
import { type SpotEvent, type TopicKey, TOPIC_OF, partitionKeyOf } from '../../src/events/schemas.js'
import { createIngestConsumer } from '../../src/ingest/consumer.js'
import { rebuildFromKafka, NotFreshError } from '../../src/ingest/rebuild-from-kafka.js'
import { LOG_EVENT_COLUMNS, storedEventOfRow } from '../../src/log/stored-event.js'
import { pipeline } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, uniqueTopics, waitFor } from '../helper-kafka.js'
import { projectionRows } from '../replay/fixtures/history.js'
import { uuidOf } from './fixtures/stream.js'

const NOW = new Date('2026-11-22T00:00:00Z')
const pipe = () => pipeline({ rebalancePolicy: 'ignore', recentInterruptionMinutes: 10, clock: () => NOW })
const POOLS = ['m5.large.us-east-1a', 'm5.large.us-east-1b', 'm5.large.us-east-1c']

/** Registrations first (what A is given before the rest), then the history, as events per agent in time order. */
function history(seed: string, agents: number, rounds: number): { registrations: SpotEvent[], rest: SpotEvent[] } {
  const clientId = uuidOf(`${seed}:client`)
  const base = Date.parse('2026-11-20T00:00:00Z')
  let n = 0
  const env = (agentId: string, at: number) => ({ eventId: uuidOf(`${seed}:${n++}`), occurredAt: new Date(at).toISOString(), clientId, agentId })
  const registrations: SpotEvent[] = []
  const rest: SpotEvent[] = []
  for (let a = 0; a < agents; a++) {
    const agentId = uuidOf(`${seed}:agent:${a}`)
    let instanceId = `i-${seed.slice(0, 6)}-${a}`
    let pool = POOLS[a % POOLS.length]!
    registrations.push(newEvent('agent.registered', { ...env(agentId, base + a * 1000), data: {
      logicalAgentId: `web-${a}`, instanceId, instanceType: 'm5.large', region: 'us-east-1', az: pool.split('.')[2]!,
      mode: 'spot', hostname: `host-${a}`, spotPrice: '0.0345', onDemandPrice: '0.096',
    } }))
    // Agents that switch get no signals: a signal naming an instance the agent left later is answered by arrival order
    // across topics (ignored or recorded if it comes first, "not the agent's current instance" if the switch does).
    const switches = a % 3 === 2
    for (let r = 0; r < rounds; r++) {
      const at = base + 3_600_000 * (r + 1) + a * 60_000
      rest.push(newEvent('agent.heartbeat', { ...env(agentId, at), data: {
        status: 'online', instanceId, mode: 'spot', poolId: pool, spotPrice: (0.03 + ((a + r) % 7) / 1000).toFixed(4), onDemandPrice: '0.096',
      } }))
      rest.push(newEvent('instance.metrics', { ...env(agentId, at + 1000), data: { instanceId, cpu: (a * 13 + r) % 100, memory: (r * 7) % 100 } }))
      if (a === r % agents) {
        for (const p of POOLS) {
          rest.push(newEvent('pricing.snapshot', { ...env(agentId, at + 2000), data: {
            poolId: p, instanceType: 'm5.large', region: 'us-east-1', az: p.split('.')[2]!,
            spotPrice: (0.031 + ((r * 3 + POOLS.indexOf(p)) % 5) / 1000).toFixed(4), onDemandPrice: '0.096', observedAt: new Date(at + 2000).toISOString(), sourceType: 'agent',
          } }))
        }
      }
      if (!switches && (a + r) % 3 === 0) rest.push(newEvent('spot.rebalance_recommendation', { ...env(agentId, at + 3000), data: { instanceId, poolId: pool } }))
      if (!switches && (a + r) % 4 === 1) {
        rest.push(newEvent('spot.termination_notice', { ...env(agentId, at + 4000), data: { instanceId, poolId: pool, terminationTime: new Date(at + 124_000).toISOString() } }))
      }
      if (switches && r % 2 === 1) {
        const next = POOLS[(POOLS.indexOf(pool) + 1) % POOLS.length]!
        rest.push(newEvent('agent.instance_switched', { ...env(agentId, at + 5000), data: {
          oldInstanceId: instanceId, newInstanceId: `${instanceId}-s${r}`, oldPoolId: pool, newPoolId: next,
          onDemandPrice: '0.096', oldSpotPrice: '0.034', newSpotPrice: '0.032', trigger: 'manual',
        } }))
        instanceId = `${instanceId}-s${r}`
        pool = next
      }
    }
  }
  return { registrations, rest }
}

type Topics = Record<TopicKey, string>

/** Each event to its type's topic, keyed as agents key them; every fifth re-sent (a retrying producer); garbage on two topics. */
function messagesOf(events: readonly SpotEvent[], topics: Topics, garbage: boolean): Map<string, Message[]> {
  const out = new Map<string, Message[]>()
  const add = (topic: string, m: Message) => out.set(topic, [...out.get(topic) ?? [], m])
  events.forEach((e, i) => {
    const m = { key: partitionKeyOf(e), value: JSON.stringify(e) }
    add(topics[TOPIC_OF[e.type]], m)
    if (i % 5 === 4) add(topics[TOPIC_OF[e.type]], { ...m })
  })
  if (garbage) {
    add(topics.agentEvents, { key: 'x', value: 'not json at all' })
    add(topics.spotInterruptions, { key: 'y', value: JSON.stringify({ type: 'spot.unknown_signal', version: 1 }) })
  }
  return out
}

const inputTopics = (topics: Topics) => [topics.spotInterruptions, topics.replicaEvents, topics.agentEvents, topics.pricingSnapshots]

/** The log in comparable form: inputs whole (with their topic positions), decisions by cause, type and the whole decision without its own id. */
async function logRows(db: Kysely<Database>) {
  const inputs = await sql<Record<string, unknown>>`SELECT event_id, type, version, client_id, agent_id, occurred_at, payload, source, topic, partition_no, offset_no
    FROM event_log WHERE source <> 'decision' ORDER BY event_id`.execute(db)
  const produced = await db.selectFrom('event_log').select(LOG_EVENT_COLUMNS)
    .where('source', '=', 'decision').where('type', 'not in', ['decision.input_parked', 'decision.parked_released']).execute()
  const decisions = produced.map((r) => {
    const { eventId: _id, ...rest } = storedEventOfRow(r)
    return JSON.stringify([r.cause_event_id, r.type, rest])
  }).sort()
  return { inputs: inputs.rows, decisions }
}

const deadLetters = async (db: Kysely<Database>) =>
  (await sql`SELECT topic, partition_no, offset_no, reason FROM dead_letter_events ORDER BY topic, partition_no, offset_no`.execute(db)).rows

/** Every input topic's partitions checkpointed at their last offset in `db`. */
async function caughtUp(db: Kysely<Database>, kafka: ReturnType<typeof kafkaFor>, topics: readonly string[]): Promise<boolean> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const cps = await db.selectFrom('consumer_checkpoints').selectAll().execute()
    const at = new Map(cps.map((c) => [`${c.topic}:${c.partition_no}`, BigInt(c.offset_no)]))
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(p.high) > 0n && at.get(`${topic}:${p.partition}`) !== BigInt(p.high) - 1n) return false
      }
    }
    return true
  } finally {
    await admin.disconnect()
  }
}

t.test('a database rebuilt from the topics equals the one ingested live: event_log and every projection, row for row', async (t) => {
  const a = await freshDatabase(t, { migrate: true })
  const b = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topics = uniqueTopics()
  const { registrations, rest } = history(uniqueName('kr'), 6, 8)
  const producer = await connectedProducer(t, kafka)
  const send = async (events: readonly SpotEvent[], garbage: boolean) => {
    for (const [topic, messages] of messagesOf(events, topics, garbage)) await producer.send({ topic, acks: -1, messages })
  }
  // The replica-events topic has nothing here but must exist for both consumers.
  await producer.send({ topic: topics.replicaEvents, acks: -1, messages: [{ key: 'z', value: 'not an event' }] })

  // Live: registrations first, as a fleet starts; then the rest while the consumer runs.
  const live = createIngestConsumer({ kafka, db: a.db, groupId: uniqueName('live'), topics: inputTopics(topics), pipeline: pipe(), chunkSize: 40, fromBeginning: true, backoff: { initialMs: 50, maxMs: 500 } })
  t.teardown(() => live.stop())
  await live.start()
  await send(registrations, false)
  await waitFor('A to register every agent', async () => Number((await sql<{ n: number }>`SELECT COUNT(*) AS n FROM agents`.execute(a.db)).rows[0]!.n) === registrations.length)
  await send(rest, true)
  await waitFor('A to catch up with every topic', () => caughtUp(a.db, kafka, inputTopics(topics)), 90_000)
  await live.stop()

  const r = await rebuildFromKafka({ kafka, db: b.db, topics: inputTopics(topics), pipeline: pipe(), groupId: uniqueName('rebuild'), pollMs: 100 })
  t.ok(r.messages > registrations.length + rest.length, `every retained message counted (${r.messages})`)

  const [logA, logB] = [await logRows(a.db), await logRows(b.db)]
  t.equal(logA.inputs.length, registrations.length + rest.length, 'A logged each input once')
  t.same(logB.inputs, logA.inputs, 'event_log inputs equal, topic positions included')
  t.ok(logA.decisions.length > 0, 'A has decisions to compare')
  t.same(logB.decisions, logA.decisions, 'the decisions equal (by cause, type and payload)')
  t.same(await deadLetters(b.db), await deadLetters(a.db), 'the same dead letters')

  const [rowsA, rowsB] = [await projectionRows(a.db), await projectionRows(b.db)]
  for (const [table, rows] of Object.entries(rowsA)) t.same(rowsB[table], rows, `${table}: ${rows.length} rows equal`)
  t.ok(rowsA['spot_interruption_events']!.length > 0 && rowsA['cost_records']!.length > 0 && rowsA['instance_switches']!.length > 0, 'the projections have rows')

  const again = await rebuildFromKafka({ kafka, db: b.db, topics: inputTopics(topics), pipeline: pipe(), groupId: uniqueName('again') }).then(() => 'ran', (e: unknown) => e)
  t.ok(again instanceof NotFreshError, 'a second rebuild into a database with a log refuses')
})
