// newEvent and the producer: validation before anything leaves, grouping by
// topic, keys and headers; then a round trip through a real broker
// (KAFKA_BROKERS, set by scripts/local-servers.sh run).
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { Kafka, logLevel, type Consumer } from 'kafkajs'
import { parseMessage } from '../../src/events/parse.js'
import { InvalidEventError, createEventProducer, newEvent } from '../../src/events/producer.js'
import { type SpotEvent, type Topics } from '../../src/events/schemas.js'
import { AGENT_ID, CLIENT_ID, REPLICA_ID } from './fixtures/examples.js'

const fixedClock = () => new Date('2026-11-24T18:00:00.000Z')

function sampleEvents(): SpotEvent[] {
  return [
    newEvent('spot.termination_notice', {
      clientId: CLIENT_ID, agentId: AGENT_ID,
      data: { instanceId: 'i-0abc', poolId: 'm5.large.us-east-1a', terminationTime: '2026-11-24T18:02:00.000Z' },
    }),
    newEvent('replica.launched', {
      clientId: CLIENT_ID, agentId: AGENT_ID,
      data: { replicaId: REPLICA_ID, instanceId: 'i-0rep', poolId: 'c5.xlarge.us-east-1b', replicaType: 'manual', hourlyCost: 0.085 },
    }),
    newEvent('pricing.snapshot', {
      clientId: CLIENT_ID, agentId: AGENT_ID,
      data: { poolId: 'm5.large.us-east-1a', instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a', spotPrice: '0.034500', onDemandPrice: 0.096, observedAt: '2026-11-24T17:59:00Z', sourceType: 'agent' },
    }),
  ]
}

t.test('newEvent fills the envelope and normalises data', async (t) => {
  const e = newEvent('agent.heartbeat', {
    clientId: CLIENT_ID, agentId: AGENT_ID,
    data: { status: 'online', instanceId: 'i-1', mode: 'spot', poolId: 'm5.large.us-east-1a', spotPrice: 0.0345, onDemandPrice: '0.0960' },
  }, fixedClock)
  t.match(e.eventId, /^[0-9a-f-]{36}$/)
  t.equal(e.version, 1)
  t.equal(e.occurredAt, '2026-11-24T18:00:00.000Z')
  t.same(e.data, { status: 'online', instanceId: 'i-1', mode: 'spot', poolId: 'm5.large.us-east-1a', spotPrice: '0.0345', onDemandPrice: '0.096' })
  t.not(newEvent('replica.ready', { clientId: CLIENT_ID, agentId: AGENT_ID, data: { replicaId: REPLICA_ID } }).eventId, e.eventId)

  t.throws(() => newEvent('replica.ready', { clientId: CLIENT_ID, agentId: AGENT_ID, data: { replicaId: 'nope' } }),
    { name: 'InvalidEventError', code: 'INVALID_EVENT', message: /replica\.ready.*data\.replicaId: Invalid UUID/ })

  if (false as boolean) {
    // Compile-time checks only: the data type follows the event type.
    // @ts-expect-error terminationTime is required for a termination notice
    newEvent('spot.termination_notice', { clientId: CLIENT_ID, agentId: AGENT_ID, data: { instanceId: 'i', poolId: 'p' } })
    // @ts-expect-error mode is 'spot' | 'on-demand'
    newEvent('agent.heartbeat', { clientId: CLIENT_ID, agentId: AGENT_ID, data: { status: 's', instanceId: 'i', mode: 'reserved', poolId: 'p', spotPrice: 1, onDemandPrice: 1 } })
  }
})

t.test('send validates everything first, then groups by topic', async (t) => {
  const batches: unknown[] = []
  const fake = { producer: () => ({ sendBatch: async (b: unknown) => { batches.push(b); return []; } }) } as unknown as Kafka
  const producer = createEventProducer(fake)
  const [notice, launched, price] = sampleEvents()
  const broken = { ...launched!, data: { ...launched!.data, poolId: 'bad' } } as SpotEvent

  await t.rejects(producer.send([notice!, broken]), InvalidEventError)
  await t.rejects(producer.send([notice!, broken]), { index: 1, eventType: 'replica.launched', message: /\[1\].*data\.poolId/ })
  t.equal(batches.length, 0, 'nothing sent when one event is invalid')

  t.same(await producer.send([]), [])
  t.equal(batches.length, 0)

  await producer.send([notice!, launched!, price!])
  t.same(batches, [{
    acks: -1,
    topicMessages: [
      { topic: 'spot-interruptions', messages: [{ key: AGENT_ID, value: JSON.stringify(notice), headers: { 'event-type': 'spot.termination_notice' } }] },
      { topic: 'replica-events', messages: [{ key: AGENT_ID, value: JSON.stringify(launched), headers: { 'event-type': 'replica.launched' } }] },
      { topic: 'pricing-snapshots', messages: [{ key: 'm5.large.us-east-1a', value: JSON.stringify(price), headers: { 'event-type': 'pricing.snapshot' } }] },
    ],
  }])
})

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const brokers = process.env['KAFKA_BROKERS']

t.test('round trip through the broker', { skip: brokers ? false : 'KAFKA_BROKERS is not set (run through scripts/local-servers.sh run)' }, async (t) => {
  const kafka = new Kafka({ clientId: 'events-test', brokers: (brokers ?? '').split(','), logLevel: logLevel.NOTHING })
  // Two random topics: the interruption and pricing events share one, the
  // replica event goes to the other, so grouping by topic name is exercised.
  const shared = `t-${randomUUID()}`
  const replicas = `t-${randomUUID()}`
  const topics: Topics = {
    spotInterruptions: shared, replicaEvents: replicas, agentEvents: shared, pricingSnapshots: shared, replicaCommands: shared,
  }
  const producer = createEventProducer(kafka, topics)
  // A short fetch wait so that disconnect does not sit out a 5 s long poll.
  const consumer: Consumer = kafka.consumer({ groupId: `g-${randomUUID()}`, maxWaitTimeInMs: 100 })
  t.teardown(async () => {
    await consumer.disconnect()
    await producer.disconnect()
  })

  const sent = sampleEvents()
  await producer.connect()
  const meta = await producer.send(sent)
  t.equal(meta.length > 0, true, 'broker acknowledged')

  const received: Array<{ topic: string; key: string | undefined; header: string | undefined; event: SpotEvent | string }> = []
  await consumer.connect()
  await consumer.subscribe({ topics: [shared, replicas], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const r = parseMessage(message.value)
      received.push({ topic, key: message.key?.toString(), header: message.headers?.['event-type']?.toString(), event: r.ok ? r.event : r.reason })
    },
  })
  await waitFor('3 messages', () => received.length >= 3)

  const byId = new Map(received.map((m) => [typeof m.event === 'string' ? m.event : m.event.eventId, m]))
  t.equal(received.length, 3)
  for (const e of sent) {
    const m = byId.get(e.eventId)
    t.same(m?.event, e, `${e.type} parses back equal`)
    t.equal(m?.topic, e.type === 'replica.launched' ? replicas : shared)
    t.equal(m?.key, e.type === 'pricing.snapshot' ? 'm5.large.us-east-1a' : AGENT_ID)
    t.equal(m?.header, e.type)
  }
})
