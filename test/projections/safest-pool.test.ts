/**
 * The counts flow to the rules: 20 termination notices in pool C within the
 * hour (other agents), and an agent's rebalance replica goes to pool B,
 * though C is the cheapest (the original bug: it went to C).
 */
import t from 'tap'
import { applyBatch, type RawMessage } from '../../src/log/apply-batch.js'
import { pipeline } from '../../src/wiring.js'
import { newEvent } from '../../src/events/producer.js'
import type { SpotEvent } from '../../src/events/schemas.js'
import { freshDatabase } from '../helper-db.js'
import { uuidOf } from '../ingest/fixtures/stream.js'

const { db } = await freshDatabase(t, { migrate: true })
const wiring = pipeline()
const CLIENT = uuidOf('safe:client')
const POOLS = { a: 'm5.large.us-east-1a', b: 'm5.large.us-east-1b', c: 'm5.large.us-east-1c' }
// Recent: the ranking counts the last 30 days of the server's clock.
const T = Date.now() - 3_600_000
const iso = (ms: number) => new Date(T + ms).toISOString()

let offset = 0
async function send(topic: string, events: SpotEvent[]) {
  const messages: RawMessage[] = events.map((e) => ({ offset: String(offset++), key: null, value: Buffer.from(JSON.stringify(e)) }))
  await applyBatch(db, { topic, partition: 0, messages }, wiring)
}
const register = (agentId: string, az: string) => newEvent('agent.registered', { clientId: CLIENT, agentId, occurredAt: iso(0), data: {
  logicalAgentId: agentId.slice(0, 8), instanceId: `i-${agentId.slice(0, 8)}`, instanceType: 'm5.large', region: 'us-east-1', az,
  mode: 'spot', hostname: 'h', spotPrice: '0.03', onDemandPrice: '0.096' } })
const price = (poolId: string, spotPrice: string) => newEvent('pricing.snapshot', { clientId: CLIENT, agentId: uuidOf('safe:pricer'), occurredAt: iso(0), data: {
  poolId, instanceType: 'm5.large', region: 'us-east-1', az: poolId.split('.').at(-1)!, spotPrice, onDemandPrice: '0.096', observedAt: iso(0), sourceType: 'agent' } })

t.test('a pool with 20 termination notices in the hour is not the safest', async (t) => {
  await send('pricing', [price(POOLS.a, '0.03'), price(POOLS.b, '0.05'), price(POOLS.c, '0.02')])
  const victims = Array.from({ length: 20 }, (_, i) => uuidOf(`safe:victim:${i}`))
  await send('agents', victims.map((id) => register(id, 'us-east-1c')))
  await send('interruptions', victims.map((agentId, i) => newEvent('spot.termination_notice', { clientId: CLIENT, agentId, occurredAt: iso(60_000 + i * 1000), data: {
    instanceId: `i-${agentId.slice(0, 8)}`, poolId: POOLS.c, terminationTime: iso(180_000 + i * 1000) } })))
  const ranking = await db.selectFrom('v_pool_reliability_ranking').select(['pool_id', 'interruptions_30d', 'terminations_30d']).where('pool_id', '=', POOLS.c).execute()
  t.strictSame(ranking.map((r) => [Number(r.interruptions_30d), Number(r.terminations_30d)]), [[20, 20]], 'the ranking counts them')

  const agent = uuidOf('safe:agent')
  await send('agents', [register(agent, 'us-east-1a')])
  const signal = newEvent('spot.rebalance_recommendation', { clientId: CLIENT, agentId: agent, occurredAt: iso(600_000), data: { instanceId: `i-${agent.slice(0, 8)}`, poolId: POOLS.a } })
  await send('interruptions', [signal])
  const replica = await db.selectFrom('replica_instances').select(['pool_id', 'replica_type']).where('agent_id', '=', agent).executeTakeFirstOrThrow()
  t.strictSame(replica, { pool_id: POOLS.b, replica_type: 'automatic-rebalance' }, 'the replica goes to B, not the cheaper C')
})
