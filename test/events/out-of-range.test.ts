// Values beyond the columns, through the Kafka path (applyBatch) on real
// MariaDB: identifiers, labels and numbers out of range are clear dead
// letters (a schema reason, never "database refused"), a long termination
// reason is cut and the replica ends terminated (it does not stay live and
// block the next one), and a price a float-printing agent sends is stored
// rounded to 6 places.
import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import { submitInput } from '../../src/log/core.js'
import type { Database } from '../../src/db/database.js'
import { applyBatch, type RawMessage } from '../../src/log/apply-batch.js'
import { pipeline } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { EXAMPLES, example } from './fixtures/examples.js'

const POOL = 'm5.large.us-east-1a'

async function rows<T>(db: Kysely<Database>, query: string): Promise<T[]> {
  return (await sql.raw<T>(query).execute(db)).rows
}

t.test('out-of-range values on the wire', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const handlers = pipeline()
  const clientId = randomUUID()
  const agentId = randomUUID()
  let offset = 0
  /** Raw JSON objects onto one partition of `topic`; each a fresh event id, this test's agent. */
  const send = (topic: string, events: readonly Record<string, unknown>[]) => applyBatch(db, {
    topic, partition: 0,
    messages: events.map((e): RawMessage => ({
      offset: String(offset++), key: Buffer.from(agentId),
      value: Buffer.from(JSON.stringify({ ...e, eventId: randomUUID(), clientId, agentId, occurredAt: new Date().toISOString() })),
    })),
  }, handlers)
  const deadReasons = async (topic: string) =>
    (await rows<{ reason: string }>(db, `SELECT reason FROM dead_letter_events WHERE topic = '${topic}' ORDER BY id`)).map((r) => r.reason)

  const snapshot = (data: Record<string, unknown>) => ({ ...EXAMPLES['pricing.snapshot'], data: { ...EXAMPLES['pricing.snapshot'].data, ...data } })
  await send('pricing-snapshots', ['a', 'b', 'c'].map((z) => snapshot({ poolId: `m5.large.us-east-1${z}`, az: `us-east-1${z}`, observedAt: new Date().toISOString() })))
  await send('agent-events', [{ ...example('agent.registered'), data: { ...example('agent.registered').data, instanceId: 'i-primary' } }])

  await t.test('a float-serialised price is stored rounded half-even to 6 places', async (t) => {
    const hb = example('agent.heartbeat')
    const r = await send('agent-events', [{ ...hb, data: { ...hb.data, instanceId: 'i-primary', spotPrice: 0.034999999999999996, onDemandPrice: 0.1 + 0.2 } }])
    t.equal(r.deadLettered, 0)
    const [agent] = await rows<{ spot_price: string, ondemand_price: string }>(db, `SELECT spot_price, ondemand_price FROM agents WHERE id = '${agentId}'`)
    t.same(agent, { spot_price: '0.035000', ondemand_price: '0.300000' })
    const p = await send('pricing-snapshots', [snapshot({ spotPrice: '0.0000005', onDemandPrice: 999999.999999, observedAt: new Date().toISOString() })])
    t.equal(p.deadLettered, 0)
    const [last] = await rows<{ spot_price: string, ondemand_price: string }>(db, 'SELECT spot_price, ondemand_price FROM pricing_snapshots_clean ORDER BY id DESC LIMIT 1')
    t.same(last, { spot_price: '0.000000', ondemand_price: '999999.999999' })
  })

  await t.test('identifiers, labels and numbers beyond their columns are dead letters with the schema reason', async (t) => {
    const longAz = `us-east-1-${'l'.repeat(20)}-1a` // 33 characters, shaped like a Local Zone
    const hb = example('agent.heartbeat')
    const sw = example('agent.instance_switched')
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['pricing-snapshots', snapshot({ az: longAz, poolId: `m5.large.${longAz}` }), /^schema: .*data\.az: /],
      ['pricing-snapshots', snapshot({ sourceType: 's'.repeat(33) }), /^schema: data\.sourceType: /],
      ['pricing-snapshots', snapshot({ spotPrice: 1_000_000 }), /^schema: data\.spotPrice: must be less than 1000000/],
      ['agent-events', { ...hb, data: { ...hb.data, status: 's'.repeat(33) } }, /^schema: data\.status: /],
      ['agent-events', { ...hb, data: { ...hb.data, poolId: `m5.large.${longAz}` } }, /^schema: data\.poolId: instance type and az must fit/],
      ['agent-events', { ...sw, data: { ...sw.data, trigger: 't'.repeat(65) } }, /^schema: data\.trigger: /],
      ['agent-events', { ...example('instance.metrics'), data: { ...example('instance.metrics').data, networkIn: 2 ** 63 } }, /^schema: data\.networkIn: /],
      ['replica-events', { ...example('replica.sync_progress'), data: { ...example('replica.sync_progress').data, syncLatencyMs: 2 ** 31 } }, /^schema: data\.syncLatencyMs: /],
      ['spot-interruptions', { ...example('spot.termination_notice'), data: { ...example('spot.termination_notice').data, terminationTime: '9999-12-31T23:00:00-05:00' } }, /^schema: data\.terminationTime: /],
    ]
    for (const [topic, event, reason] of cases) {
      const before = (await deadReasons(topic)).length
      const r = await send(topic, [event])
      t.equal(r.deadLettered, 1, `${topic} ${String(event['type'])}: dead-lettered in the batch`)
      t.match((await deadReasons(topic))[before], reason)
    }
  })

  await t.test('a termination reason longer than its column is cut, and the replica ends terminated', async (t) => {
    const replicaId = randomUUID()
    const r0 = await submitInput(db, {
      eventId: randomUUID(), type: 'user.replica_create_requested', version: 1, occurredAt: new Date().toISOString(),
      clientId, agentId, data: { replicaId, poolId: 'm5.large.us-east-1b' },
    }, handlers)
    t.equal(r0.rejection, null, 'a replica is requested')
    const launched = example('replica.launched')
    await send('replica-events', [{ ...launched, data: { ...launched.data, replicaId, poolId: 'm5.large.us-east-1b', replicaType: 'manual' } }])

    const reason = `spot capacity reclaimed: ${'x'.repeat(300)}`
    const r = await send('replica-events', [{ ...example('replica.terminated'), data: { replicaId, reason } }])
    t.equal(r.deadLettered, 0, 'not dead-lettered')
    const [replica] = await rows<{ status: string, termination_reason: string }>(db, `SELECT status, termination_reason FROM replica_instances WHERE id = '${replicaId}'`)
    t.equal(replica?.status, 'terminated')
    t.equal(replica?.termination_reason, reason.slice(0, 255))

    const next = await submitInput(db, {
      eventId: randomUUID(), type: 'user.replica_create_requested', version: 1, occurredAt: new Date().toISOString(),
      clientId, agentId, data: { replicaId: randomUUID(), poolId: 'm5.large.us-east-1c' },
    }, handlers)
    t.equal(next.rejection, null, 'the next replica is not blocked')
    const live = await rows<{ n: number }>(db, `SELECT COUNT(*) AS n FROM replica_instances WHERE live_agent_id = '${agentId}'`)
    t.equal(Number(live[0]?.n), 1)
  })
})
