/**
 * `fleet`: simulated agents for the local demo. They register, report prices
 * and heartbeats, now and then receive rebalance recommendations and
 * termination notices, and answer the service's commands on
 * `replica-commands` the way a real agent would (launch -> launched, syncing
 * in steps, synced and ready; promote -> promoted, and from then on the agent
 * runs on the replica's instance in the replica's pool; terminate ->
 * terminated; switch -> the agent moves to a new instance on demand or in
 * the pool named, and reports agent.instance_switched). An agent whose termination notice was not answered by a
 * promotion restarts on a new instance when its two minutes are up.
 * Uses the same typed producer as real agents, so the wire contract has one
 * definition.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { createEventProducer, newEvent } from './events/producer.js'
import { EventSchema, type SpotEvent, type Topics } from './events/schemas.js'
import { within } from './ingest/lag.js'

/** How often things happen. Interruptions are per agent and hour (a Poisson rate). */
export interface FleetRates {
  heartbeatMs: number
  pricingMs: number
  /** Time between two sync-progress reports of a launching replica (four steps to synced). */
  syncStepMs: number
  rebalancesPerAgentHour: number
  terminationsPerAgentHour: number
  /**
   * Days of hourly pricing snapshots published at start for every pool (the
   * 7-day chart has lines from the first minute). Their event ids derive from
   * the client, pool and hour, so a restarted fleet's are duplicates, ignored.
   */
  priceHistoryDays: number
  /**
   * Whatever the rates, one agent gets a rebalance recommendation this long
   * after start and its termination notice once the replica the service
   * launched for it is ready (at most a minute later), so a demo shows a
   * failover within its first minute; at 0.5 notices per agent-hour, 50
   * agents get one in the first minute only a third of the time, and a notice
   * without a ready replica gets an emergency snapshot, not a failover. 0: none.
   */
  firstInterruptionMs: number
}

export const DEFAULT_RATES: FleetRates = {
  heartbeatMs: 10_000, pricingMs: 30_000, syncStepMs: 3_000, rebalancesPerAgentHour: 1, terminationsPerAgentHour: 0.5, priceHistoryDays: 7, firstInterruptionMs: 15_000,
}

export interface FleetOptions {
  kafka: Kafka
  topics: Topics
  clientId: string
  agents?: number
  rates?: Partial<FleetRates>
  log?: (msg: string) => void
}

export interface Fleet {
  agents: readonly SimAgent[]
  stop(): Promise<void>
}

interface SimReplica { instanceId: string, poolId: string, timers: NodeJS.Timeout[] }

export interface SimAgent {
  readonly id: string
  instanceId: string
  poolId: string
  mode: 'spot' | 'on-demand'
  /** The termination time of the current instance, when a notice was given. */
  terminatesAt: number | null
  readonly replicas: Map<string, SimReplica>
}

const REGION = 'us-east-1'
const AZS = ['a', 'b', 'c', 'd'].map((l) => `${REGION}${l}`)
/** On-demand price per instance type (us-east-1, Linux). */
const ON_DEMAND: Readonly<Record<string, string>> = { 'm5.large': '0.0960', 'c5.large': '0.0850', 'r5.large': '0.1260' }
/** A dozen pools: three instance types in four AZs. */
export const POOLS = Object.keys(ON_DEMAND).flatMap((type) => AZS.map((az) => `${type}.${az}`))

const typeOf = (poolId: string) => poolId.slice(0, poolId.indexOf('.', poolId.indexOf('.') + 1))
const azOf = (poolId: string) => poolId.slice(typeOf(poolId).length + 1)
const newInstanceId = () => `i-${randomUUID().replace(/-/g, '').slice(0, 17)}`

/** A UUID (version 8) derived from a seed: the same seed, the same id. */
function uuidOf(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** A stable agent id per client and index, so a restarted demo fleet is the same fleet. */
export function agentIdOf(clientId: string, index: number): string {
  return uuidOf(`${clientId}:agent:${index}`)
}

const HOUR_MS = 3_600_000
/** The longest the fleet's stop waits for its Kafka clients to disconnect. */
const DISCONNECT_MS = 2_000

export async function runFleet(o: FleetOptions): Promise<Fleet> {
  const log = o.log ?? (() => {})
  const rates: FleetRates = { ...DEFAULT_RATES, ...o.rates }
  const producer = createEventProducer(o.kafka, o.topics)
  await producer.connect()
  // Spot prices start at 25-45% of on-demand and walk; each pool its own.
  const prices = new Map(POOLS.map((pool, i) => [pool, Number(ON_DEMAND[typeOf(pool)]) * (0.25 + (i % 5) * 0.05)]))
  const price = (pool: string) => (prices.get(pool) ?? Number(ON_DEMAND[typeOf(pool)] ?? '0.1') * 0.4).toFixed(4)
  const onDemand = (pool: string) => ON_DEMAND[typeOf(pool)] ?? '0.1000'
  const agents: SimAgent[] = Array.from({ length: o.agents ?? 50 }, (_, i) => ({
    id: agentIdOf(o.clientId, i), instanceId: newInstanceId(), poolId: POOLS[i % POOLS.length]!, mode: 'spot', terminatesAt: null, replicas: new Map(),
  }))
  const byId = new Map(agents.map((a) => [a.id, a]))
  const ev = <T extends SpotEvent['type']>(type: T, a: SimAgent, data: Parameters<typeof newEvent<T>>[1]['data']) =>
    newEvent(type, { clientId: o.clientId, agentId: a.id, data })
  // A broker outage is one line when it starts and one when sends work again.
  let failedSends = 0
  const send = (events: SpotEvent[]) => producer.send(events).then(() => {
    if (failedSends > 0) log(`sending again (${failedSends} sends failed meanwhile; their events are lost, as a real agent's would be)`)
    failedSends = 0
  }, (err: unknown) => {
    if (failedSends++ === 0) log(`send failed: ${String(err)}; the following failures are counted, not shown`)
  })
  let stopped = false
  const later = (ms: number, f: () => void) => { const t = setTimeout(() => { if (!stopped) f() }, ms); return t }

  await producer.send(agents.map((a, i) => ev('agent.registered', a, {
    logicalAgentId: `demo-${String(i + 1).padStart(3, '0')}`, instanceId: a.instanceId, instanceType: typeOf(a.poolId), region: REGION,
    az: azOf(a.poolId), mode: 'spot', hostname: `demo-${String(i + 1).padStart(3, '0')}.local`, spotPrice: price(a.poolId), onDemandPrice: onDemand(a.poolId),
  })))

  const launch = (a: SimAgent, replicaId: string, poolId: string, reason: string) => {
    const r: SimReplica = { instanceId: newInstanceId(), poolId, timers: [] }
    a.replicas.set(replicaId, r)
    const replicaType = reason.startsWith('rebalance') ? 'automatic-rebalance' : reason.startsWith('termination') ? 'automatic-termination' : 'manual'
    void send([ev('replica.launched', a, { replicaId, instanceId: r.instanceId, poolId, replicaType, hourlyCost: price(poolId) })])
    for (const [step, progress] of [25, 50, 75].entries()) {
      r.timers.push(later(rates.syncStepMs * (step + 1), () => void send([ev('replica.sync_progress', a, {
        replicaId, syncStatus: 'syncing', syncLatencyMs: 200 + Math.round(Math.random() * 400), stateTransferProgress: progress,
      })])))
    }
    r.timers.push(later(rates.syncStepMs * 4, () => {
      void send([
        ev('replica.sync_progress', a, { replicaId, syncStatus: 'synced', syncLatencyMs: 20 + Math.round(Math.random() * 40), stateTransferProgress: 100 }),
        ev('replica.ready', a, { replicaId }),
      ])
      if (scripted?.agentId === a.id) r.timers.push(later(1_000, () => noticeScripted()))
    }))
  }

  /** The scripted first interruption (rates.firstInterruptionMs): its agent, until its notice is sent. */
  let scripted: { agentId: string, fallback: NodeJS.Timeout } | undefined
  const noticeScripted = () => {
    const s = scripted
    scripted = undefined
    if (!s) return
    clearTimeout(s.fallback)
    const a = byId.get(s.agentId)
    if (a && a.mode === 'spot' && a.terminatesAt === null) void send([notice(a, Date.now())])
  }

  const dropReplica = (a: SimAgent, replicaId: string) => {
    for (const t of a.replicas.get(replicaId)?.timers ?? []) clearTimeout(t)
    a.replicas.delete(replicaId)
  }

  const onCommand = (c: SpotEvent) => {
    const a = byId.get(c.agentId)
    if (!a) return
    log(`agent ${a.id.slice(0, 8)} received ${c.type}`)
    if (c.type === 'command.launch_replica') {
      if (!a.replicas.has(c.data.replicaId)) launch(a, c.data.replicaId, c.data.poolId, c.data.reason)
    } else if (c.type === 'command.promote_replica') {
      // The agent now runs on the replica: its instance and its pool. A replica
      // this process never launched (a previous run's) gets a fresh instance.
      const r = a.replicas.get(c.data.replicaId)
      dropReplica(a, c.data.replicaId)
      a.instanceId = r?.instanceId ?? newInstanceId()
      if (r) a.poolId = r.poolId
      a.terminatesAt = null
      void send([ev('replica.promoted', a, { replicaId: c.data.replicaId, newInstanceId: a.instanceId })])
    } else if (c.type === 'command.terminate_replica') {
      dropReplica(a, c.data.replicaId)
      void send([ev('replica.terminated', a, { replicaId: c.data.replicaId, reason: 'terminated on command' })])
    } else if (c.type === 'command.switch_instance') {
      const old = { instanceId: a.instanceId, poolId: a.poolId, price: a.mode === 'spot' ? price(a.poolId) : onDemand(a.poolId) }
      a.instanceId = newInstanceId()
      a.terminatesAt = null
      if (c.data.target === 'pool' && c.data.poolId !== null) a.poolId = c.data.poolId
      a.mode = c.data.target === 'ondemand' ? 'on-demand' : 'spot'
      void send([ev('agent.instance_switched', a, {
        oldInstanceId: old.instanceId, newInstanceId: a.instanceId, oldPoolId: old.poolId, newPoolId: a.poolId,
        onDemandPrice: onDemand(a.poolId), oldSpotPrice: old.price, newSpotPrice: price(a.poolId), trigger: 'manual',
      })])
    }
  }

  // A fetch waits at most half a second for commands (kafkajs waits 5 s): stopping waits for the fetch in flight.
  // A short session: a fleet started again soon after a stop joins its group again, and the local broker makes
  // that join wait the session timeout less a second (kafkajs' 30 s would hold the restart for 29 s).
  const commands = o.kafka.consumer({ groupId: `fleet-${o.clientId}`, maxWaitTimeInMs: 500, sessionTimeout: 6_000, heartbeatInterval: 1_000 })
  await commands.connect()
  // A new group starts at the beginning, a known one where it left off, so no
  // command published before this consumer joined is lost.
  await commands.subscribe({ topic: o.topics.replicaCommands, fromBeginning: true })
  await commands.run({
    eachMessage: async ({ message }) => {
      let value: unknown
      try { value = JSON.parse(String(message.value)) } catch { return }
      const parsed = EventSchema.safeParse(value)
      if (parsed.success && parsed.data.clientId === o.clientId) onCommand(parsed.data)
    },
  })

  const chance = (perHour: number) => Math.random() < perHour * rates.heartbeatMs / 3_600_000
  const heartbeat = () => {
    const batch: SpotEvent[] = []
    const now = Date.now()
    for (const a of agents) {
      if (a.terminatesAt !== null && now >= a.terminatesAt) restart(a, batch)
      batch.push(ev('agent.heartbeat', a, { status: 'online', instanceId: a.instanceId, mode: a.mode, poolId: a.poolId, spotPrice: price(a.poolId), onDemandPrice: onDemand(a.poolId) }))
      batch.push(ev('instance.metrics', a, { instanceId: a.instanceId, cpu: Math.round(Math.random() * 100), memory: Math.round(30 + Math.random() * 60) }))
      // On-demand instances are not interrupted.
      if (a.terminatesAt !== null || a.mode === 'on-demand') continue
      if (chance(rates.terminationsPerAgentHour)) {
        batch.push(notice(a, now))
      } else if (chance(rates.rebalancesPerAgentHour)) {
        batch.push(recommendation(a))
      }
    }
    void send(batch)
  }

  const recommendation = (a: SimAgent): SpotEvent => ev('spot.rebalance_recommendation', a, { instanceId: a.instanceId, poolId: a.poolId })
  /** The two-minute warning for the agent's current instance. */
  const notice = (a: SimAgent, now: number): SpotEvent => {
    a.terminatesAt = now + 120_000
    log(`agent ${a.id.slice(0, 8)}: termination notice for ${a.instanceId}`)
    return ev('spot.termination_notice', a, { instanceId: a.instanceId, poolId: a.poolId, terminationTime: new Date(a.terminatesAt).toISOString() })
  }

  // No promotion came within the two minutes: the instance is gone, and the
  // agent comes back on a new one in its pool, as an auto-scaling group would.
  const restart = (a: SimAgent, batch: SpotEvent[]) => {
    const old = a.instanceId
    a.instanceId = newInstanceId()
    a.terminatesAt = null
    batch.push(ev('agent.instance_switched', a, {
      oldInstanceId: old, newInstanceId: a.instanceId, oldPoolId: a.poolId, newPoolId: a.poolId,
      onDemandPrice: onDemand(a.poolId), oldSpotPrice: price(a.poolId), newSpotPrice: price(a.poolId), trigger: 'interruption-restart',
    }))
  }

  const pricing = () => {
    const observedAt = new Date().toISOString()
    const batch = POOLS.map((pool, i) => {
      const od = Number(onDemand(pool))
      prices.set(pool, Math.min(od * 0.9, Math.max(od * 0.15, prices.get(pool)! * (0.97 + Math.random() * 0.06))))
      return ev('pricing.snapshot', agents[i % agents.length]!, {
        poolId: pool, instanceType: typeOf(pool), region: REGION, az: azOf(pool), spotPrice: price(pool), onDemandPrice: onDemand(pool), observedAt, sourceType: 'demo-fleet',
      })
    })
    void send(batch)
  }

  // The past days, hour by hour, walking back from today's prices (so the chart meets the live snapshots).
  const history: SpotEvent[] = []
  const thisHour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS
  for (const [i, pool] of POOLS.entries()) {
    const od = Number(onDemand(pool))
    let p = prices.get(pool)!
    for (let h = 1; h <= rates.priceHistoryDays * 24; h++) {
      p = Math.min(od * 0.9, Math.max(od * 0.15, p * (0.97 + Math.random() * 0.06)))
      const at = new Date(thisHour - h * HOUR_MS).toISOString()
      history.push(newEvent('pricing.snapshot', {
        eventId: uuidOf(`${o.clientId}:price:${pool}:${at}`), clientId: o.clientId, agentId: agents[i % agents.length]!.id, occurredAt: at,
        data: { poolId: pool, instanceType: typeOf(pool), region: REGION, az: azOf(pool), spotPrice: p.toFixed(4), onDemandPrice: onDemand(pool), observedAt: at, sourceType: 'demo-fleet' },
      }))
    }
  }
  if (history.length > 0) await producer.send(history)

  pricing()
  const timers = [setInterval(heartbeat, rates.heartbeatMs), setInterval(pricing, rates.pricingMs)]
  if (rates.firstInterruptionMs > 0) {
    timers.push(later(rates.firstInterruptionMs, () => {
      const a = agents.find((x) => x.mode === 'spot' && x.terminatesAt === null)
      if (!a) return
      log(`agent ${a.id.slice(0, 8)}: rebalance recommendation for ${a.instanceId}, its termination notice follows once a replica is ready`)
      scripted = { agentId: a.id, fallback: later(60_000, () => noticeScripted()) }
      void send([recommendation(a)])
    }))
  }
  return {
    agents,
    async stop() {
      stopped = true
      for (const t of timers) clearInterval(t)
      for (const a of agents) for (const id of [...a.replicas.keys()]) dropReplica(a, id)
      // With the broker gone, the commands consumer's disconnect retries leaving its group for 8 s and more (the
      // demo's stop then ran into its 20 s limit on a loaded machine); these are simulated agents: 2 s is enough.
      // A refusal still reaches the caller (the demo logs it); only the wait is cut.
      const refused = await within(Promise.all([commands.disconnect(), producer.disconnect()]).then(() => null, (err: unknown) => ({ err })), DISCONNECT_MS, null)
      if (refused) throw refused.err
    },
  }
}
