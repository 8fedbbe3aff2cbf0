/**
 * End to end through the real broker: the simulated fleet registers its
 * agents; a user asks for a replica (HTTP path); the outbox relay publishes
 * the launch command; the simulated agent launches the replica, reports it
 * syncing in steps, then synced and ready; the consumer applies that and the
 * replica is ready. Then a promotion: from then on the simulated agent runs on
 * the replica's instance in the replica's pool, and its heartbeats say so
 * (before, the fleet kept reporting its old pool and the agents list showed it).
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { submitInput } from '../src/log/core.js'
import { ReplicaCreateRequestedSchema, ReplicaPromoteRequestedSchema } from '../src/agent/agent.events.js'
import { createClient } from '../src/clients/client.repository.js'
import { POOLS, runFleet } from '../src/fleet.js'
import { createIngestConsumer } from '../src/ingest/consumer.js'
import { pipeline } from '../src/wiring.js'
import { relayOnce } from '../src/ingest/outbox-relay.js'
import { fromDbTime } from '../src/db/time.js'
import { freshDatabase } from './helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, uniqueTopics, waitFor } from './helper-kafka.js'
import { inputTopics } from '../src/events/schemas.js'

t.test('fleet, rules, outbox and consumer close the loop', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topics = uniqueTopics()
  const handlers = pipeline({ rebalancePolicy: 'ignore', recentInterruptionMinutes: 10 })
  const consumer = createIngestConsumer({
    kafka, db, groupId: uniqueName('g'), pipeline: handlers, sessionTimeoutMs: 6_000,
    topics: inputTopics(topics),
  })
  t.teardown(() => consumer.stop())
  await consumer.start()
  const client = await createClient(db, 'fleet test')
  const fleet = await runFleet({ kafka, topics, clientId: client.id, agents: 2, rates: { heartbeatMs: 300, syncStepMs: 100, rebalancesPerAgentHour: 0, terminationsPerAgentHour: 0, firstInterruptionMs: 0 } })
  t.teardown(() => fleet.stop())

  // Every pool known (the fleet's price history arrives pool by pool; a replica needs another pool of the agent's type).
  const agents = await waitFor('agents registered and prices known', async () => {
    const rows = await db.selectFrom('agents').select(['id', 'instance_id']).where('client_id', '=', client.id).where('instance_id', 'is not', null).execute()
    const pools = await db.selectFrom('spot_pools').select('id').execute()
    return rows.length === 2 && pools.length >= POOLS.length ? rows : undefined
  })
  const agentId = agents![0]!.id
  const replicaId = randomUUID()
  const outcome = await submitInput(db, ReplicaCreateRequestedSchema.parse({
    eventId: randomUUID(), type: 'user.replica_create_requested', version: 1, occurredAt: new Date().toISOString(),
    clientId: client.id, agentId, data: { replicaId },
  }), handlers)
  t.equal(outcome.rejection, null)
  t.same(outcome.commands.map((c) => c.type), ['command.launch_replica'])

  const producer = await connectedProducer(t, kafka)
  await waitFor('the replica ready', async () => {
    await relayOnce({ db, producer, commandsTopic: topics.replicaCommands, log: kafka.logger() })
    const r = await db.selectFrom('replica_instances').select(['status', 'instance_id', 'sync_status']).where('id', '=', replicaId).executeTakeFirst()
    return r?.status === 'ready' ? r : undefined
  }, 60_000, 200)
  const [agent] = await db.selectFrom('agents').select(['current_replica_id']).where('id', '=', agentId).execute()
  t.equal(agent!.current_replica_id, replicaId, 'the agent points at its live replica')
  const replica = await db.selectFrom('replica_instances').selectAll().where('id', '=', replicaId).executeTakeFirstOrThrow()
  t.match(replica, { status: 'ready', sync_status: 'synced', replica_type: 'manual' })
  t.match(replica.instance_id, /^i-/, 'the instance the simulated agent launched')

  // The sync went through the steps.
  const progress = await db.selectFrom('event_log').select('payload').where('type', '=', 'replica.sync_progress').where('agent_id', '=', agentId).execute()
  t.same(progress.map((p) => (JSON.parse(p.payload) as { data: { stateTransferProgress: number } }).data.stateTransferProgress), [25, 50, 75, 100], 'launch -> syncing 25/50/75 -> synced')

  // Promotion: the agent moves to the replica's instance and pool, and stays there.
  const [before] = await db.selectFrom('agents').select(['current_pool_id']).where('id', '=', agentId).execute()
  t.not(replica.pool_id, before!.current_pool_id, 'the replica runs in another pool than the agent')
  const promoted = await submitInput(db, ReplicaPromoteRequestedSchema.parse({
    eventId: randomUUID(), type: 'user.replica_promote_requested', version: 1, occurredAt: new Date().toISOString(),
    clientId: client.id, agentId, data: { replicaId },
  }), handlers)
  t.equal(promoted.rejection, null)
  // Heartbeats sent before the agent received the command still (truly) name
  // the old instance; wait for one sent after the agent reported the promotion.
  await waitFor('the promotion reported and a heartbeat after it', async () => {
    await relayOnce({ db, producer, commandsTopic: topics.replicaCommands, log: kafka.logger() })
    const r = await db.selectFrom('event_log').select('occurred_at').where('type', '=', 'replica.promoted').where('agent_id', '=', agentId).executeTakeFirst()
    const a = await db.selectFrom('agents').select(['last_heartbeat_at']).where('id', '=', agentId).executeTakeFirstOrThrow()
    return r !== undefined && a.last_heartbeat_at !== null && fromDbTime(a.last_heartbeat_at).getTime() > fromDbTime(r.occurred_at).getTime() + 1000
  }, 60_000, 200)
  const sim = fleet.agents.find((a) => a.id === agentId)!
  t.same({ instanceId: sim.instanceId, poolId: sim.poolId }, { instanceId: replica.instance_id, poolId: replica.pool_id }, 'the simulated agent runs on the replica')
  const after = await db.selectFrom('agents').select(['instance_id', 'current_pool_id']).where('id', '=', agentId).executeTakeFirstOrThrow()
  t.same(after, { instance_id: replica.instance_id, current_pool_id: replica.pool_id }, 'its heartbeats report the replica\'s instance and pool')
  const dead = await db.selectFrom('dead_letter_events').select(['reason']).execute()
  t.same(dead, [], 'a healthy fleet produces no dead letters')
})
