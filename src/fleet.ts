/**
 * `fleet`: simulated agents for the local demo. They register, report prices
 * and heartbeats, now and then receive rebalance recommendations and
 * termination notices, and answer the service's commands on
 * `replica-commands` the way a real agent would (launch -> launched, synced,
 * ready; promote -> promoted; terminate -> terminated). Uses the same typed
 * producer as real agents, so the wire contract has one definition.
 */
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { createEventProducer, newEvent } from './events/producer.js'
import { EventSchema, type SpotEvent, type Topics } from './events/schemas.js'

export interface FleetOptions {
  kafka: Kafka
  topics: Topics
  clientId: string
  agents?: number
  tickMs?: number
  log?: (msg: string) => void
}

interface SimAgent { id: string, instanceId: string, poolId: string, replicaInstance: Map<string, string> }

const AZS = ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d']
const TYPE = 'm5.large'
const ON_DEMAND = '0.096'

export async function runFleet(o: FleetOptions): Promise<{ stop(): Promise<void> }> {
  const log = o.log ?? (() => {})
  const producer = createEventProducer(o.kafka, o.topics)
  await producer.connect()
  const prices = new Map(AZS.map((az, i) => [`${TYPE}.${az}`, 0.03 + i * 0.004]))
  const agents: SimAgent[] = Array.from({ length: o.agents ?? 4 }, (_, i) => ({
    id: randomUUID(), instanceId: `i-${randomUUID().slice(0, 12)}`, poolId: `${TYPE}.${AZS[i % AZS.length]}`, replicaInstance: new Map(),
  }))
  const byId = new Map(agents.map((a) => [a.id, a]))
  const ev = <T extends SpotEvent['type']>(type: T, a: SimAgent, data: Parameters<typeof newEvent<T>>[1]['data']) =>
    newEvent(type, { clientId: o.clientId, agentId: a.id, data })
  const price = (pool: string) => prices.get(pool)!.toFixed(4)

  await producer.send(agents.map((a) => ev('agent.registered', a, {
    logicalAgentId: `demo-${a.id.slice(0, 4)}`, instanceId: a.instanceId, instanceType: TYPE, region: 'us-east-1',
    az: a.poolId.slice(TYPE.length + 1), mode: 'spot', hostname: `demo-${a.id.slice(0, 4)}.local`, spotPrice: price(a.poolId), onDemandPrice: ON_DEMAND,
  })))

  const commands = o.kafka.consumer({ groupId: `fleet-${o.clientId}` })
  await commands.connect()
  await commands.subscribe({ topic: o.topics.replicaCommands, fromBeginning: false })
  await commands.run({
    eachMessage: async ({ message }) => {
      const parsed = EventSchema.safeParse(JSON.parse(String(message.value)))
      if (!parsed.success) return
      const c = parsed.data
      const a = byId.get(c.agentId)
      if (!a) return
      log(`agent ${a.id.slice(0, 8)} received ${c.type}`)
      if (c.type === 'command.launch_replica') {
        const instanceId = `i-${randomUUID().slice(0, 12)}`
        a.replicaInstance.set(c.data.replicaId, instanceId)
        const { replicaId, poolId } = c.data
        await producer.send([ev('replica.launched', a, { replicaId, instanceId, poolId, replicaType: c.data.reason.startsWith('rebalance') ? 'automatic-rebalance' : 'manual', hourlyCost: price(poolId) })])
        setTimeout(() => void producer.send([
          ev('replica.sync_progress', a, { replicaId, syncStatus: 'synced', syncLatencyMs: 40, stateTransferProgress: 100 }),
          ev('replica.ready', a, { replicaId }),
        ]).catch(() => {}), o.tickMs ?? 2000)
      } else if (c.type === 'command.promote_replica') {
        const newInstanceId = a.replicaInstance.get(c.data.replicaId) ?? `i-${randomUUID().slice(0, 12)}`
        a.instanceId = newInstanceId
        await producer.send([ev('replica.promoted', a, { replicaId: c.data.replicaId, newInstanceId })])
      } else if (c.type === 'command.terminate_replica') {
        await producer.send([ev('replica.terminated', a, { replicaId: c.data.replicaId, reason: 'terminated on command' })])
      }
    },
  })

  const tick = async () => {
    for (const [pool, p] of prices) prices.set(pool, Math.max(0.01, p * (0.97 + Math.random() * 0.06)))
    const now = new Date().toISOString()
    const batch: SpotEvent[] = [...prices.keys()].map((pool) => newEvent('pricing.snapshot', {
      clientId: o.clientId, agentId: agents[0]!.id,
      data: { poolId: pool, instanceType: TYPE, region: 'us-east-1', az: pool.slice(TYPE.length + 1), spotPrice: price(pool), onDemandPrice: ON_DEMAND, observedAt: now, sourceType: 'demo-fleet' },
    }))
    for (const a of agents) {
      batch.push(ev('agent.heartbeat', a, { status: 'online', instanceId: a.instanceId, mode: 'spot', poolId: a.poolId, spotPrice: price(a.poolId), onDemandPrice: ON_DEMAND }))
      batch.push(ev('instance.metrics', a, { instanceId: a.instanceId, cpu: Math.round(Math.random() * 100), memory: Math.round(Math.random() * 100) }))
      const r = Math.random()
      if (r < 0.04) batch.push(ev('spot.rebalance_recommendation', a, { instanceId: a.instanceId, poolId: a.poolId }))
      else if (r < 0.06) batch.push(ev('spot.termination_notice', a, { instanceId: a.instanceId, poolId: a.poolId, terminationTime: new Date(Date.now() + 120_000).toISOString() }))
    }
    await producer.send(batch)
  }
  const timer = setInterval(() => { tick().catch((err) => log(`fleet tick failed: ${String(err)}`)) }, o.tickMs ?? 2000)
  return {
    async stop() {
      clearInterval(timer)
      await commands.disconnect()
      await producer.disconnect()
    },
  }
}
