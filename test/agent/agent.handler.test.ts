// The agent rules' shell on real MariaDB: raw messages through applyBatch,
// register -> rebalance -> replica launched/ready -> termination -> failover,
// the emergency snapshot path, re-delivery, the HTTP entry, and a replay of
// the log that matches the rows.
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import { agentFromRow, loadRecentSignals, replicaFromRow } from '../../src/agent/agent.repository.js'
import { agentDecider, poolChooser } from '../../src/agent/agent.handler.js'
import { submitInput } from '../../src/log/core.js'
import { isAgentEventType, type AgentEvent } from '../../src/agent/agent.events.js'
import { LOG_EVENT_COLUMNS, storedEventOfRow } from '../../src/log/stored-event.js'
import { initialAgentState, replay } from '../../src/agent/agent.rules.js'
import type { Database } from '../../src/db/database.js'
import { applyBatch, type RawMessage } from '../../src/log/apply-batch.js'
import { pricingHistoryProjection } from '../../src/projections/pricing-history.projection.js'
import { interruptionsProjection } from '../../src/projections/interruptions.projection.js'
import { switchesProjection } from '../../src/projections/switches.projection.js'
import type { Pipeline } from '../../src/log/core.js'
import { freshDatabase } from '../helper-db.js'
import {
  AGENT, CLIENT, POOL_A, POOL_B, POOL_C, at, configChanged, launched, ready, rebalance, registered, syncing,
  termination, user, uuid, wire,
} from './fixtures/events.js'

const A1 = AGENT
const A2 = uuid(2, 3)
const A3 = uuid(3, 3)
const NOW = new Date(at(0, 30))
const handlers: Pipeline = {
  deciders: [agentDecider({ rebalancePolicy: 'replica', recentInterruptionMinutes: 10, clock: () => NOW })],
  projections: [pricingHistoryProjection, interruptionsProjection, switchesProjection],
}

const offsets = new Map<string, number>()
function messages(topic: string, events: readonly { eventId: string, agentId: string }[]): RawMessage[] {
  let next = offsets.get(topic) ?? 0
  const out = events.map((e) => ({ offset: String(next++), key: Buffer.from(e.agentId), value: Buffer.from(JSON.stringify(e)) }))
  offsets.set(topic, next)
  return out
}

const snapshot = (pool: string, price: number) => wire('pricing.snapshot', {
  poolId: pool, instanceType: 'm5.large', region: 'us-east-1', az: pool.slice('m5.large.'.length),
  spotPrice: price, onDemandPrice: 0.096, observedAt: at(-5), sourceType: 'agent',
})

async function rows<T>(db: Kysely<Database>, query: string): Promise<T[]> {
  return (await sql.raw<T>(query).execute(db)).rows
}

const TABLES = ['agents', 'replica_instances', 'spot_interruption_events', 'instance_switches', 'outbox', 'event_log', 'dead_letter_events']
async function tables(db: Kysely<Database>) {
  return Object.fromEntries(await Promise.all(TABLES.map(async (name) => [name, await rows(db, `SELECT * FROM ${name} ORDER BY 1`)])))
}

t.test('poolChooser: safest is fewest interruptions then price, cheapest is price then interruptions; excluded and other types never', async (t) => {
  const choose = poolChooser([
    { poolId: POOL_A, instanceType: 'm5.large', interruptions: 0, spotPrice: 0.01 },
    { poolId: POOL_B, instanceType: 'm5.large', interruptions: 3, spotPrice: 0.02 },
    { poolId: POOL_C, instanceType: 'm5.large', interruptions: 0, spotPrice: 0.03 },
    { poolId: 'm5.large.us-east-1d', instanceType: 'm5.large', interruptions: 0, spotPrice: null },
    { poolId: 'c5.large.us-east-1a', instanceType: 'c5.large', interruptions: 0, spotPrice: 0.001 },
  ])
  t.equal(choose({ instanceType: 'm5.large', exclude: [POOL_A], prefer: 'safest' }), POOL_C)
  t.equal(choose({ instanceType: 'm5.large', exclude: [POOL_A], prefer: 'cheapest' }), POOL_B)
  t.equal(choose({ instanceType: 'm5.large', exclude: [POOL_A, POOL_C], prefer: 'safest' }), 'm5.large.us-east-1d', 'a pool without a price is still a known pool')
  t.equal(choose({ instanceType: 'r5.large', exclude: [], prefer: 'safest' }), null)
})

t.test('agent rules on MariaDB', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const sent: Record<string, RawMessage[]> = {}
  const apply = async (topic: string, events: readonly { eventId: string, agentId: string }[]) => {
    const m = messages(topic, events)
    sent[topic] = [...sent[topic] ?? [], ...m]
    return applyBatch(db, { topic, partition: 0, messages: m }, handlers)
  }

  // Pools: B is the cheapest, but it was interrupted 3 times this hour; C is the safest.
  await apply('pricing-snapshots', [snapshot(POOL_A, 0.0345), snapshot(POOL_B, 0.03), snapshot(POOL_C, 0.032)])
  await sql`INSERT INTO pool_reliability_metrics (pool_id, bucket_start, interruption_count, termination_count)
            VALUES (${POOL_B}, DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:00:00'), 3, 3)`.execute(db)

  await t.test('registration, and manual mode launching a replica in the cheapest other pool', async (t) => {
    const r = await apply('agent-events', [
      registered(), registered({ agentId: A2, instanceId: 'i-two' }), registered({ agentId: A3, instanceId: 'i-three' }),
      configChanged({ manualReplicaEnabled: true }, { agentId: A3 }),
    ])
    t.equal(r.applied.length, 4)
    const [a3] = await rows<any>(db, `SELECT * FROM agents WHERE id = '${A3}'`)
    t.match(a3, { auto_switch_enabled: 0, manual_replica_enabled: 1, current_pool_id: POOL_A, instance_id: 'i-three' })
    const [rep] = await rows<any>(db, `SELECT * FROM replica_instances WHERE agent_id = '${A3}'`)
    t.match(rep, { id: a3.current_replica_id, pool_id: POOL_B, replica_type: 'manual', status: 'launching', client_id: CLIENT })
  })

  let replicaId = ''
  await t.test('rebalance in automatic mode creates a replica in the safest pool and a launch command', async (t) => {
    const signal = rebalance()
    await apply('spot-interruptions', [signal])
    const [a1] = await rows<any>(db, `SELECT * FROM agents WHERE id = '${A1}'`)
    t.match(a1, { last_interruption_signal: '2026-11-24 18:00:00.000', interruption_handled_count: 0 })
    replicaId = a1.current_replica_id
    t.ok(replicaId)
    const [rep] = await rows<any>(db, `SELECT * FROM replica_instances WHERE id = '${replicaId}'`)
    t.match(rep, { agent_id: A1, pool_id: POOL_C, replica_type: 'automatic-rebalance', status: 'launching', parent_instance_id: 'i-primary' })
    const [row] = await rows<any>(db, `SELECT * FROM spot_interruption_events WHERE event_id = '${signal.eventId}'`)
    t.match(row, { signal_type: 'rebalance-recommendation', response_action: 'replica-created', replica_id: replicaId, success: 1, response_time_ms: 30000, pool_id: POOL_A })
    const cmds = await rows<any>(db, `SELECT * FROM outbox WHERE agent_id = '${A1}' ORDER BY id`)
    t.same(cmds.map((c) => [c.type, JSON.parse(c.payload).data]), [['command.launch_replica', { replicaId, poolId: POOL_C, reason: 'rebalance-recommendation' }]])
    t.equal(cmds[0].cause_event_id, signal.eventId)
  })

  await t.test('replica launched, syncing, ready', async (t) => {
    await apply('replica-events', [
      launched(replicaId, { poolId: POOL_C, instanceId: 'i-replica-1', at: at(0, 10) }), syncing(replicaId, { at: at(0, 15) }), ready(replicaId, { at: at(0, 20) }),
    ])
    const [rep] = await rows<any>(db, `SELECT * FROM replica_instances WHERE id = '${replicaId}'`)
    t.match(rep, { status: 'ready', instance_id: 'i-replica-1', hourly_cost: '0.031000', ready_at: '2026-11-24 18:00:20.000', sync_status: 'synced' })
  })

  const notice1 = termination({ at: at(0, 25) })
  const notice2 = termination({ agentId: A2, instanceId: 'i-two', at: at(0, 25) })
  const duplicate = termination({ at: at(0, 26) })
  const again = termination({ at: at(0, 27), terminationTime: at(3) })
  await t.test('termination notices: failover with a ready replica, emergency snapshot without; a duplicate answered once, a notice for the left instance answered', async (t) => {
    const r = await apply('spot-interruptions', [notice1, notice2, duplicate, again])
    t.equal(r.deadLettered, 0, 'no notice is dead-lettered')
    const [a1] = await rows<any>(db, `SELECT * FROM agents WHERE id = '${A1}'`)
    t.match(a1, {
      instance_id: 'i-replica-1', current_pool_id: POOL_C, current_replica_id: null, interruption_handled_count: 1,
      last_failover_at: '2026-11-24 18:00:30.000', last_interruption_signal: '2026-11-24 18:00:27.000', spot_price: '0.031000',
    })
    const [rep] = await rows<any>(db, `SELECT * FROM replica_instances WHERE id = '${replicaId}'`)
    t.match(rep, { status: 'promoted', promoted_at: '2026-11-24 18:00:30.000' })
    const [i1] = await rows<any>(db, `SELECT * FROM spot_interruption_events WHERE event_id = '${notice1.eventId}'`)
    t.match(i1, { signal_type: 'termination-notice', response_action: 'failover', replica_id: replicaId, response_time_ms: 5000, failover_time_ms: null, success: 1 })
    const [i2] = await rows<any>(db, `SELECT * FROM spot_interruption_events WHERE event_id = '${notice2.eventId}'`)
    t.match(i2, { agent_id: A2, response_action: 'emergency-snapshot', replica_id: null, success: 0 })
    const switches = await rows<any>(db, `SELECT * FROM instance_switches`)
    t.equal(switches.length, 1)
    t.match(switches[0], {
      agent_id: A1, old_instance_id: 'i-primary', new_instance_id: 'i-replica-1', old_pool_id: POOL_A, new_pool_id: POOL_C,
      reason: 'automatic-interruption-failover', event_trigger: 'termination-notice', old_spot_price: '0.034500', new_spot_price: '0.031000',
    })
    const cmds = await rows<any>(db, `SELECT type, agent_id, payload FROM outbox ORDER BY id`)
    t.same(cmds.map((c) => [c.agent_id, c.type]), [
      [A3, 'command.launch_replica'], [A1, 'command.launch_replica'], [A1, 'command.promote_replica'], [A2, 'command.emergency_snapshot'],
      [A1, 'command.emergency_snapshot'],
    ])
    t.same(JSON.parse(cmds[3].payload).data, { instanceId: 'i-two' })
    t.same(JSON.parse(cmds[4].payload).data, { instanceId: 'i-primary' }, 'the instance the agent left: an emergency snapshot of it')
    t.same(await rows(db, `SELECT * FROM spot_interruption_events WHERE event_id = '${duplicate.eventId}'`), [], 'the duplicate is not recorded again')
    const [i3] = await rows<any>(db, `SELECT * FROM spot_interruption_events WHERE event_id = '${again.eventId}'`)
    t.match(i3, { instance_id: 'i-primary', response_action: 'emergency-snapshot', success: 0, error_message: /not the agent's current instance \(i-replica-1\)/ })
    t.same(await rows(db, `SELECT * FROM event_log WHERE type = 'decision.rejected'`), [])
  })

  await t.test("the agent's replica.promoted completes the failover: failover_time_ms is signal to confirmation", async (t) => {
    const r = await apply('replica-events', [wire('replica.promoted', { replicaId, newInstanceId: 'i-replica-1' }, { at: at(0, 40) })])
    t.equal(r.deadLettered, 0, 'a confirmation of a promotion the service made is accepted')
    const [i1] = await rows<any>(db, `SELECT * FROM spot_interruption_events WHERE event_id = '${notice1.eventId}'`)
    t.match(i1, { response_time_ms: 5000, failover_time_ms: 15000 })
  })

  await t.test("an event naming another agent's replica is rejected", async (t) => {
    const r = await apply('replica-events', [ready(replicaId, { agentId: A3 })])
    t.equal(r.deadLettered, 1)
    const [dead] = await rows<any>(db, `SELECT reason FROM dead_letter_events ORDER BY id DESC LIMIT 1`)
    t.match(dead.reason, /belongs to another agent/)
  })

  await t.test('re-applying the same messages at new positions changes nothing', async (t) => {
    const before = await tables(db)
    for (const [topic, ms] of Object.entries(sent)) {
      const r = await applyBatch(db, { topic, partition: 1, messages: ms }, handlers)
      t.equal(r.applied.length, 0, topic)
      t.equal(r.duplicates, ms.length, topic)
    }
    t.same(await tables(db), before)
  })

  await t.test('HTTP requests go through the same rules', async (t) => {
    const create = user('user.replica_create_requested', { replicaId: uuid(7, 4) }, { agentId: A2 })
    const r = await submitInput(db, create, handlers)
    t.match(r, { duplicate: false, rejection: null })
    t.same(r.decisions.map((d) => d.type), ['decision.replica_requested'])
    t.same(r.commands.map((c) => c.data), [{ replicaId: uuid(7, 4), poolId: POOL_B, reason: 'user-requested' }])
    t.match((await submitInput(db, create, handlers)), { duplicate: true })
    const again = await submitInput(db, user('user.replica_create_requested', { replicaId: uuid(8, 4) }, { agentId: A2 }), handlers)
    t.match(again.rejection, /already live/)
    const del = await submitInput(db, user('user.replica_delete_requested', { replicaId: uuid(7, 4) }, { agentId: A2 }), handlers)
    t.same(del.commands.map((c) => c.type), ['command.terminate_replica'])
    const [rep] = await rows<any>(db, `SELECT status, termination_reason FROM replica_instances WHERE id = '${uuid(7, 4)}'`)
    t.same(rep, { status: 'terminated', termination_reason: 'user-requested' })
    const [a2] = await rows<any>(db, `SELECT current_replica_id FROM agents WHERE id = '${A2}'`)
    t.equal(a2.current_replica_id, null)
    const [logged] = await rows<any>(db, `SELECT source FROM event_log WHERE event_id = '${create.eventId}'`)
    t.equal(logged.source, 'http')
  })

  await t.test('a replay of the log folds to the state in the rows', async (t) => {
    for (const agent of [A1, A2, A3]) {
      const log = await db.selectFrom('event_log').select(LOG_EVENT_COLUMNS).where('agent_id', '=', agent).orderBy('seq').execute()
      const events = log.map(storedEventOfRow).filter((e): e is AgentEvent => isAgentEventType(e.type))
      const replayed = replay(initialAgentState(agent, CLIENT), events)
      const [row] = await rows<any>(db, `SELECT * FROM agents WHERE id = '${agent}'`)
      const reps = await rows<any>(db, `SELECT * FROM replica_instances WHERE agent_id = '${agent}'`)
      const signals = (await loadRecentSignals(db, [agent])).get(agent) ?? []
      const fromRows = agentFromRow(row, reps.map(replicaFromRow), signals)
      t.same(replayed, fromRows, agent)
    }
  })
})
