/**
 * The demo shows a failover in its first minute: whatever the Poisson rates,
 * one spot agent gets a rebalance recommendation `firstInterruptionMs` after
 * the fleet starts, then, once the replica the service launched for it is
 * ready, its termination notice; the service answers the notice with a
 * failover to that replica. Only that one agent, only once.
 */
import t from 'tap'
import { createClient } from '../src/clients/client.repository.js'
import { fromDbTime } from '../src/db/time.js'
import { inputTopics } from '../src/events/schemas.js'
import { runFleet } from '../src/fleet.js'
import { createIngestConsumer } from '../src/ingest/consumer.js'
import { relayOnce } from '../src/ingest/outbox-relay.js'
import { pipeline } from '../src/wiring.js'
import { freshDatabase } from './helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, uniqueTopics, waitFor } from './helper-kafka.js'

t.test('a rebalance recommendation soon after start, then the notice, answered by a failover', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topics = uniqueTopics()
  const consumer = createIngestConsumer({ kafka, db, groupId: uniqueName('g'), pipeline: pipeline(), sessionTimeoutMs: 6_000, topics: inputTopics(topics) })
  t.teardown(() => consumer.stop())
  await consumer.start()
  const client = await createClient(db, 'first interruption')
  const started = Date.now()
  const fleet = await runFleet({
    kafka, topics, clientId: client.id, agents: 3,
    rates: { heartbeatMs: 500, syncStepMs: 100, rebalancesPerAgentHour: 0, terminationsPerAgentHour: 0, priceHistoryDays: 0, firstInterruptionMs: 2_000 },
  })
  t.teardown(() => fleet.stop())

  const producer = await connectedProducer(t, kafka)
  const signals = () => db.selectFrom('spot_interruption_events').select(['agent_id', 'signal_type', 'response_action', 'replica_id', 'detected_at'])
    .orderBy('detected_at').execute()
  const [rebalance, notice] = await waitFor('the notice answered', async () => {
    await relayOnce({ db, producer, commandsTopic: topics.replicaCommands, log: kafka.logger() })
    const s = await signals()
    if (s.length < 2) throw new Error(`${s.length} signals so far`)
    return s
  }, 60_000, 200)
  t.match(rebalance, { signal_type: 'rebalance', response_action: 'replica-created' }, 'first the recommendation: a replica launched')
  t.ok(fromDbTime(rebalance!.detected_at).getTime() - started >= 1_500, 'sent after the delay, not at start')
  t.match(notice, { signal_type: 'termination', response_action: 'failover', agent_id: rebalance!.agent_id, replica_id: rebalance!.replica_id },
    'then the notice: a failover to that replica')

  const promoted = await waitFor('the promotion reported', () => db.selectFrom('event_log').select('agent_id').where('type', '=', 'replica.promoted').executeTakeFirst(), 30_000, 200)
  t.equal(promoted?.agent_id, rebalance!.agent_id, 'the agent moved to its replica')
  // More heartbeats: the rates are zero, so nothing else is interrupted.
  await new Promise((r) => setTimeout(r, 2_000))
  t.equal((await signals()).length, 2, 'no other signal')
})
