/**
 * End to end through the real broker: the simulated fleet registers its
 * agents; a user asks for a replica (HTTP path); the outbox relay publishes
 * the launch command; the simulated agent launches the replica and reports
 * it synced and ready; the consumer applies that and the replica is ready.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { submitInput } from '../src/log/core.js'
import { ReplicaCreateRequestedSchema } from '../src/agent/agent.events.js'
import { createClient } from '../src/clients/client.repository.js'
import { runFleet } from '../src/fleet.js'
import { createIngestConsumer } from '../src/ingest/consumer.js'
import { pipeline } from '../src/wiring.js'
import { relayOnce } from '../src/ingest/outbox-relay.js'
import { freshDatabase } from './helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, waitFor } from './helper-kafka.js'

t.test('fleet, rules, outbox and consumer close the loop', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topics = {
    spotInterruptions: uniqueName('si'), replicaEvents: uniqueName('re'), agentEvents: uniqueName('ae'),
    pricingSnapshots: uniqueName('ps'), replicaCommands: uniqueName('rc'),
  }
  const handlers = pipeline({ rebalancePolicy: 'ignore', recentInterruptionMinutes: 10 })
  const consumer = createIngestConsumer({
    kafka, db, groupId: uniqueName('g'), pipeline: handlers, sessionTimeoutMs: 6_000,
    topics: [topics.spotInterruptions, topics.replicaEvents, topics.agentEvents, topics.pricingSnapshots],
  })
  t.teardown(() => consumer.stop())
  await consumer.start()
  const client = await createClient(db, 'fleet test')
  const fleet = await runFleet({ kafka, topics, clientId: client.id, agents: 2, tickMs: 300 })
  t.teardown(() => fleet.stop())

  const agents = await waitFor('agents registered and prices known', async () => {
    const rows = await db.selectFrom('agents').select(['id', 'instance_id']).where('client_id', '=', client.id).where('instance_id', 'is not', null).execute()
    const pools = await db.selectFrom('spot_pools').select('id').execute()
    return rows.length === 2 && pools.length >= 2 ? rows : undefined
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
})
