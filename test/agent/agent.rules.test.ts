// The agent rules, given/when/then, without a database: given prior events
// folded by evolve, when an input is decided, then these decisions, commands
// and state, or this rejection with state unchanged.
import t, { type Test } from 'tap'
import { REFUSAL_CODES, type RefusalCode } from '../../src/log/decisions.js'
import {
  type AgentState, type Outcome, type PoolQuery, type RuleEnv, applyOutcome, decide, evolve, initialAgentState, releasedBy, replay,
} from '../../src/agent/agent.rules.js'
import { DecisionEventSchema, type AgentEvent, type AgentInput, type DecisionEvent } from '../../src/agent/agent.events.js'
import {
  AGENT, CLIENT, POOL_A, POOL_B, POOL_C, at, configChanged, decision, heartbeat, ids, launched, ready, rebalance, registered,
  switched, syncing, termination, user, uuid, wire,
} from './fixtures/events.js'

const NOW = new Date(at(0, 30))
const POOL_D = 'm5.large.us-east-1d'
const R1 = uuid(1, 1)
const R2 = uuid(2, 1)
/** Safest first: B, then C, then A. */
const RANKING = [POOL_B, POOL_C, POOL_A]

type TestEnv = RuleEnv & { queries: PoolQuery[] }
function env(over: Partial<RuleEnv> = {}): TestEnv {
  const queries: PoolQuery[] = []
  return {
    now: NOW, newId: ids(5), rebalancePolicy: 'replica', recentInterruptionMinutes: 10,
    choosePool: (q) => { queries.push(q); return RANKING.find((p) => !q.exclude.includes(p)) ?? null },
    ...over, queries,
  }
}

const given = (...events: AgentEvent[]): AgentState => events.reduce(evolve, initialAgentState(AGENT, CLIENT))

function when(state: AgentState, input: AgentInput, e: RuleEnv = env()): Outcome & { state: AgentState } {
  const outcome = decide(input, state, e)
  return { ...outcome, state: applyOutcome(state, input, outcome) }
}

/** The state after deciding and applying each input in turn (signals are remembered by their recorded decision). */
const lived = (e: RuleEnv, ...inputs: AgentInput[]): AgentState => inputs.reduce((s, i) => applyOutcome(s, i, decide(i, s, e)), initialAgentState(AGENT, CLIENT))

const types = (ds: readonly { type: string }[]) => ds.map((d) => d.type)
const find = <T extends DecisionEvent['type']>(ds: DecisionEvent[], type: T) => ds.find((d) => d.type === type) as Extract<DecisionEvent, { type: T }>

function rejects(t: Test, state: AgentState, input: AgentInput, reason: RegExp, e: RuleEnv = env()): void {
  const r = when(state, input, e)
  t.match(r.rejection, reason)
  t.same(types(r.decisions), ['decision.rejected'])
  t.match(r.decisions[0], { causeEventId: input.eventId, data: { rejectedType: input.type, reason: r.rejection, code: r.rejectionCode } })
  t.ok(r.rejectionCode !== undefined && REFUSAL_CODES.includes(r.rejectionCode), `a refusal code: ${r.rejectionCode}`)
  t.same(r.commands, [])
  t.same(r.state, state, 'state unchanged')
}

const requested = (replicaId: string, replicaType: 'manual' | 'automatic-rebalance' = 'automatic-rebalance', poolId = POOL_B) =>
  decision('decision.replica_requested', {
    replicaId, poolId, replicaType, reason: 'test', parentInstanceId: 'i-primary', createdBy: 'system',
  }, uuid(999, 8))

/** Registered on pool A with a replica in pool B in the given stage. */
function withReplica(stage: 'launching' | 'launched' | 'syncing' | 'ready', type: 'manual' | 'automatic-rebalance' = 'automatic-rebalance'): AgentState {
  const events: AgentEvent[] = [registered(), requested(R1, type)]
  if (stage !== 'launching') events.push(launched(R1))
  if (stage === 'syncing') events.push(syncing(R1))
  if (stage === 'ready') events.push(ready(R1))
  return given(...events)
}

t.test('agent facts', async (t) => {
  t.test('agent.registered sets instance, pool, mode and prices', async (t) => {
    const r = when(given(), registered())
    t.same(r.decisions, [])
    t.match(r.state, {
      registered: true, instanceId: 'i-primary', instanceType: 'm5.large', az: 'us-east-1a', region: 'us-east-1',
      poolId: POOL_A, mode: 'spot', spotPrice: '0.0345', onDemandPrice: '0.096', status: 'online',
    })
  })
  t.test('agent.heartbeat updates status, instance, pool, mode and prices', async (t) => {
    const hb = wire('agent.heartbeat', { status: 'online', instanceId: 'i-other', mode: 'on-demand', poolId: POOL_C, spotPrice: 0.04, onDemandPrice: 0.1 }, { at: at(1) })
    const r = when(given(registered()), hb)
    t.match(r.state, { instanceId: 'i-other', poolId: POOL_C, az: 'us-east-1c', mode: 'on-demand', spotPrice: '0.04', onDemandPrice: '0.1', lastHeartbeatAt: at(1) })
  })
  t.test('agent.instance_switched moves the agent to the new instance and pool', async (t) => {
    const sw = wire('agent.instance_switched', {
      oldInstanceId: 'i-primary', newInstanceId: 'i-new', oldPoolId: POOL_A, newPoolId: POOL_B,
      onDemandPrice: 0.096, oldSpotPrice: 0.0345, newSpotPrice: 0.031, trigger: 'manual',
    })
    t.match(when(given(registered()), sw).state, { instanceId: 'i-new', poolId: POOL_B, spotPrice: '0.031' })
  })
  t.test('an event of another client is rejected', async (t) => {
    rejects(t, given(registered()), rebalance({ clientId: uuid(1, 77) }), /belongs to another client/)
  })
})

t.test('configuration: manual replica and auto switching are mutually exclusive', async (t) => {
  t.test('enabling manual mode turns auto switching off and launches a manual replica in the cheapest other pool', async (t) => {
    const e = env()
    const r = when(given(registered()), configChanged({ manualReplicaEnabled: true }), e)
    t.same(types(r.decisions), ['decision.config_applied', 'decision.replica_requested'])
    t.match(r.decisions[0]!.data, { autoSwitchEnabled: false, manualReplicaEnabled: true })
    t.match(find(r.decisions, 'decision.replica_requested').data, { poolId: POOL_B, replicaType: 'manual', reason: 'manual-replica-enabled' })
    t.same(e.queries, [{ instanceType: 'm5.large', exclude: [POOL_A], prefer: 'cheapest' }])
    t.same(types(r.commands), ['command.launch_replica'])
    const id = find(r.decisions, 'decision.replica_requested').data.replicaId
    t.match(r.commands[0]!.data, { replicaId: id, poolId: POOL_B })
    t.match(r.state, { autoSwitchEnabled: false, manualReplicaEnabled: true, currentReplicaId: id })
    t.equal(r.state.replicas[id]!.status, 'launching')
  })
  t.test('enabling manual mode while a replica is live launches no second one', async (t) => {
    const r = when(withReplica('ready'), configChanged({ manualReplicaEnabled: true }))
    t.same(types(r.decisions), ['decision.config_applied'])
    t.same(r.commands, [])
  })
  t.test('enabling manual mode with no other pool known records replica_unavailable', async (t) => {
    const r = when(given(registered()), configChanged({ manualReplicaEnabled: true }), env({ choosePool: () => null }))
    t.same(types(r.decisions), ['decision.config_applied', 'decision.replica_unavailable'])
    t.match(r.state, { manualReplicaEnabled: true, currentReplicaId: null })
  })
  t.test('enabling auto switching turns manual mode off and terminates the manual replica', async (t) => {
    const s = evolve(withReplica('ready', 'manual'), decision('decision.config_applied', {
      autoSwitchEnabled: false, manualReplicaEnabled: true, autoTerminateEnabled: true, terminateWaitMinutes: 0,
    }, uuid(1, 8)))
    const r = when(s, configChanged({ autoSwitchEnabled: true }))
    t.same(types(r.decisions), ['decision.config_applied', 'decision.replica_termination_requested'])
    t.match(r.decisions[0]!.data, { autoSwitchEnabled: true, manualReplicaEnabled: false })
    t.match(r.decisions[1]!.data, { replicaId: R1, reason: 'auto-switch-enabled' })
    t.same(r.commands.map((c) => [c.type, c.data]), [['command.terminate_replica', { replicaId: R1 }]])
    t.match(r.state, { currentReplicaId: null, replicas: { [R1]: { status: 'terminated' } } })
  })
  t.test('disabling manual mode terminates the manual replica', async (t) => {
    const s = evolve(withReplica('launched', 'manual'), decision('decision.config_applied', {
      autoSwitchEnabled: false, manualReplicaEnabled: true, autoTerminateEnabled: true, terminateWaitMinutes: 0,
    }, uuid(1, 8)))
    const r = when(s, configChanged({ manualReplicaEnabled: false }))
    t.match(r.decisions[1], { type: 'decision.replica_termination_requested', data: { reason: 'manual-replica-disabled' } })
    t.match(r.state, { autoSwitchEnabled: false, manualReplicaEnabled: false, currentReplicaId: null })
  })
  t.test('a change to other settings keeps modes and replica', async (t) => {
    const r = when(withReplica('ready'), configChanged({ terminateWaitMinutes: 15, autoTerminateEnabled: false }))
    t.same(types(r.decisions), ['decision.config_applied'])
    t.match(r.state, { autoSwitchEnabled: true, manualReplicaEnabled: false, autoTerminateEnabled: false, terminateWaitMinutes: 15, currentReplicaId: R1 })
  })
})

t.test('rebalance recommendation', async (t) => {
  t.test('in automatic mode without a live replica creates an automatic-rebalance replica in the safest pool, never the current one', async (t) => {
    const e = env()
    const signal = rebalance()
    const r = when(given(registered()), signal, e)
    t.same(types(r.decisions), ['decision.replica_requested', 'decision.signal_recorded'])
    t.same(e.queries, [{ instanceType: 'm5.large', exclude: [POOL_A], prefer: 'safest' }])
    const req = find(r.decisions, 'decision.replica_requested')
    t.match(req.data, { poolId: POOL_B, replicaType: 'automatic-rebalance', reason: 'rebalance-recommendation', parentInstanceId: 'i-primary' })
    t.match(find(r.decisions, 'decision.signal_recorded').data, {
      signalType: 'rebalance-recommendation', responseAction: 'replica-created', replicaId: req.data.replicaId,
      success: true, responseTimeMs: 30_000, instanceId: 'i-primary', poolId: POOL_A,
    })
    t.same(r.commands.map((c) => [c.type, c.data]), [['command.launch_replica', { replicaId: req.data.replicaId, poolId: POOL_B, reason: 'rebalance-recommendation' }]])
    t.ok(r.decisions.every((d) => d.causeEventId === signal.eventId))
    t.match(r.state, { lastInterruptionSignal: signal.occurredAt, currentReplicaId: req.data.replicaId })
  })
  t.test('excludes pools that interrupted the agent within the configured minutes', async (t) => {
    const e = env({ now: new Date(at(20)) })
    const s = lived(env({ rebalancePolicy: 'ignore' }),
      registered({ az: 'us-east-1c', instanceId: 'i-c' }), rebalance({ instanceId: 'i-c', poolId: POOL_D, at: at(0) }),
      rebalance({ instanceId: 'i-c', poolId: POOL_C, at: at(15) }),
      wire('agent.instance_switched', { oldInstanceId: 'i-c', newInstanceId: 'i-primary', oldPoolId: POOL_C, newPoolId: POOL_A, onDemandPrice: 1, oldSpotPrice: 1, newSpotPrice: 1, trigger: 'x' }, { at: at(16) }),
    )
    const r = when(s, rebalance({ at: at(19) }), e)
    t.same(e.queries[0]!.exclude, [POOL_A, POOL_C], 'D interrupted 20 minutes ago: allowed again')
    t.match(find(r.decisions, 'decision.replica_requested').data, { poolId: POOL_B })
  })
  t.test('without a pool other than the excluded ones records no-action, success false', async (t) => {
    const r = when(given(registered()), rebalance(), env({ choosePool: () => POOL_A }))
    t.same(types(r.decisions), ['decision.signal_recorded'])
    t.match(r.decisions[0]!.data, { responseAction: 'no-action', success: false, error: /no spot pool/ })
    t.same(r.commands, [])
  })
  t.test('in manual mode is recorded as no-action', async (t) => {
    const s = evolve(given(registered()), decision('decision.config_applied', {
      autoSwitchEnabled: false, manualReplicaEnabled: true, autoTerminateEnabled: true, terminateWaitMinutes: 0,
    }, uuid(1, 8)))
    const r = when(s, rebalance())
    t.same(types(r.decisions), ['decision.signal_recorded'])
    t.match(r.decisions[0]!.data, { responseAction: 'no-action', success: true })
    t.same(r.commands, [])
    t.equal(r.state.lastInterruptionSignal, at(0))
  })
  t.test('with policy ignore is recorded as ignored', async (t) => {
    const r = when(given(registered()), rebalance(), env({ rebalancePolicy: 'ignore' }))
    t.same(types(r.decisions), ['decision.signal_recorded'])
    t.match(r.decisions[0]!.data, { responseAction: 'ignored', success: true })
    t.same(r.commands, [])
  })
  t.test('with a live replica already running creates no second one', async (t) => {
    const r = when(withReplica('launching'), rebalance())
    t.same(types(r.decisions), ['decision.signal_recorded'])
    t.match(r.decisions[0]!.data, { responseAction: 'no-action', replicaId: R1 })
  })
  t.test('with policy failover fails over to a ready replica', async (t) => {
    const r = when(withReplica('ready'), rebalance(), env({ rebalancePolicy: 'failover' }))
    t.same(types(r.decisions), ['decision.failover_executed', 'decision.signal_recorded'])
    t.match(r.decisions[0]!.data, { signalType: 'rebalance-recommendation', replicaId: R1 })
    t.match(r.decisions[1]!.data, { responseAction: 'failover', replicaId: R1 })
    t.same(types(r.commands), ['command.promote_replica'])
    t.match(r.state, { instanceId: 'i-replica', poolId: POOL_B, currentReplicaId: null, interruptionHandledCount: 1 })
  })
  t.test('with policy failover and no replica creates one', async (t) => {
    const r = when(given(registered()), rebalance(), env({ rebalancePolicy: 'failover' }))
    t.same(types(r.decisions), ['decision.replica_requested', 'decision.signal_recorded'])
    t.match(r.decisions[1]!.data, { responseAction: 'replica-created' })
  })
  t.test('for an instance the agent already left is recorded as no-action, not rejected', async (t) => {
    const s = given(registered(), switched('i-primary', 'i-next', { at: at(0, 10) }))
    const r = when(s, rebalance({ at: at(0, 5) }))
    t.equal(r.rejection, undefined)
    t.same(types(r.decisions), ['decision.signal_recorded'])
    t.match(r.decisions[0]!.data, { responseAction: 'no-action', instanceId: 'i-primary', error: /not the agent's current instance \(i-next\)/ })
    t.equal(r.state.instanceId, 'i-next')
  })
})

t.test('termination notice', async (t) => {
  t.test('with a ready replica fails over: replica promoted, agent moved, counters, switch data, promote command, timings', async (t) => {
    const signal = termination()
    const r = when(withReplica('ready'), signal)
    t.same(types(r.decisions), ['decision.failover_executed', 'decision.signal_recorded'])
    t.same(r.decisions[0]!.data, {
      replicaId: R1, oldInstanceId: 'i-primary', newInstanceId: 'i-replica', oldPoolId: POOL_A, newPoolId: POOL_B,
      onDemandPrice: '0.096', oldSpotPrice: '0.0345', newSpotPrice: '0.031', signalEventId: signal.eventId,
      signalType: 'termination-notice', responseTimeMs: 30_000, failoverTimeMs: 30_000, effectiveAt: signal.occurredAt,
    })
    t.match(r.decisions[1]!.data, {
      signalType: 'termination-notice', responseAction: 'failover', replicaId: R1, success: true,
      responseTimeMs: 30_000, failoverTimeMs: 30_000, terminationTime: at(2),
    })
    t.same(r.commands.map((c) => [c.type, c.data]), [['command.promote_replica', { replicaId: R1 }]])
    t.match(r.state, {
      instanceId: 'i-replica', poolId: POOL_B, az: 'us-east-1b', spotPrice: '0.031', currentReplicaId: null,
      lastFailoverAt: NOW.toISOString(), lastInterruptionSignal: at(0), interruptionHandledCount: 1,
      replicas: { [R1]: { status: 'promoted', promotedAt: NOW.toISOString() } },
    })
  })
  t.test('with only a syncing replica fails over to it', async (t) => {
    const r = when(withReplica('syncing'), termination())
    t.same(types(r.decisions), ['decision.failover_executed', 'decision.signal_recorded'])
    t.equal(r.state.instanceId, 'i-replica')
  })
  t.test('without a replica requests an emergency snapshot, success false', async (t) => {
    const signal = termination()
    const r = when(given(registered()), signal)
    t.same(types(r.decisions), ['decision.emergency_snapshot_requested', 'decision.signal_recorded'])
    t.same(r.decisions[0]!.data, { instanceId: 'i-primary', signalEventId: signal.eventId })
    t.match(r.decisions[1]!.data, { responseAction: 'emergency-snapshot', success: false, replicaId: null })
    t.same(r.commands.map((c) => [c.type, c.data]), [['command.emergency_snapshot', { instanceId: 'i-primary' }]])
    t.match(r.state, { instanceId: 'i-primary', interruptionHandledCount: 0, lastFailoverAt: null, lastInterruptionSignal: at(0) })
  })
  t.test('with a replica still launching requests an emergency snapshot', async (t) => {
    const r = when(withReplica('launched'), termination())
    t.match(r.decisions[1]!.data, { responseAction: 'emergency-snapshot', success: false, replicaId: R1, error: /still launching/ })
    t.equal(r.state.currentReplicaId, R1, 'the launching replica stays')
  })
  t.test('is never ignored: manual mode and policy ignore still fail over', async (t) => {
    const s = evolve(withReplica('ready'), decision('decision.config_applied', {
      autoSwitchEnabled: false, manualReplicaEnabled: true, autoTerminateEnabled: true, terminateWaitMinutes: 0,
    }, uuid(1, 8)))
    const r = when(s, termination(), env({ rebalancePolicy: 'ignore' }))
    t.match(r.decisions[1]!.data, { responseAction: 'failover' })
  })
  t.test('a true duplicate (same instance, same termination time) is answered once: accepted, nothing decided', async (t) => {
    const s = given(...replayable([registered()], termination()))
    const r = when(s, termination({ at: at(0, 10) }))
    t.equal(r.rejection, undefined)
    t.same(r.decisions, [])
    t.same(r.commands, [])
  })
  t.test('a notice for an instance the agent already failed over from is answered with an emergency snapshot of it, never a second failover', async (t) => {
    // Failed over i-primary -> i-replica; a second replica is ready when another notice for i-primary (new time) arrives.
    const s = given(...replayable(withReplicaEvents('ready'), termination()), requested(R2), launched(R2, { instanceId: 'i-replica-2' }), ready(R2))
    const r = when(s, termination({ at: at(0, 10), terminationTime: at(3) }))
    t.equal(r.rejection, undefined)
    t.same(types(r.decisions), ['decision.emergency_snapshot_requested', 'decision.signal_recorded'])
    t.same(r.commands.map((c) => [c.type, c.data]), [['command.emergency_snapshot', { instanceId: 'i-primary' }]])
    t.match(r.decisions[1]!.data, {
      responseAction: 'emergency-snapshot', instanceId: 'i-primary', success: false,
      error: /i-primary is not the agent's current instance \(i-replica\)/,
    })
    t.match(r.state, { instanceId: 'i-replica', currentReplicaId: R2 })
  })
})

t.test('order across topics (issue 8 §1): facts carry their occurredAt, notices are never dropped', async (t) => {
  t.test('a notice for i-2 consumed before the switch i-1 -> i-2 that preceded it fails over from i-2', async (t) => {
    const s = withReplica('ready') // on i-primary, replica R1 ready
    const notice = termination({ instanceId: 'i-2', poolId: POOL_C, at: at(0, 20) })
    const r = when(s, notice)
    t.equal(r.rejection, undefined)
    t.same(types(r.decisions), ['decision.failover_executed', 'decision.signal_recorded'])
    t.match(r.decisions[0]!.data, { oldInstanceId: 'i-2', oldPoolId: POOL_C, newInstanceId: 'i-replica' })
    t.match(r.state, { instanceId: 'i-replica', formerInstances: ['i-primary', 'i-2'] })
    // The switch arrives late: it changes the history, not the agent's instance.
    const late = when(r.state, switched('i-primary', 'i-2', { at: at(0, 10) }))
    t.equal(late.rejection, undefined)
    t.match(late.state, { instanceId: 'i-replica', poolId: POOL_B })
  })
  t.test('a notice for a newer instance with no replica asks an emergency snapshot of that instance', async (t) => {
    const r = when(given(registered()), termination({ instanceId: 'i-2', poolId: POOL_C, at: at(0, 20) }))
    t.same(r.commands.map((c) => [c.type, c.data]), [['command.emergency_snapshot', { instanceId: 'i-2' }]])
    t.match(r.state, { instanceId: 'i-2', poolId: POOL_C, formerInstances: ['i-primary'] })
  })
  t.test('a heartbeat produced before a failover and consumed after it does not move the agent back', async (t) => {
    const failedOver = when(withReplica('ready'), termination({ at: at(0, 20) })).state
    const stale = when(failedOver, heartbeat({ at: at(0, 15) }))
    t.match(stale.state, { instanceId: 'i-replica', poolId: POOL_B })
    // Newer by the agent's clock but naming the instance it left (the agent had not processed the promotion yet): still no.
    const lagging = when(stale.state, heartbeat({ at: at(0, 25) }))
    t.match(lagging.state, { instanceId: 'i-replica', poolId: POOL_B, lastHeartbeatAt: at(0, 25) })
    // The next notice for the live instance is answered.
    const next = when(lagging.state, termination({ instanceId: 'i-replica', poolId: POOL_B, at: at(0, 40) }))
    t.equal(next.rejection, undefined)
    t.same(types(next.commands), ['command.emergency_snapshot'])
    t.match(next.decisions[1]!.data, { instanceId: 'i-replica', error: 'no replica to fail over to' })
  })
  t.test('an older heartbeat never overwrites newer prices of the same instance', async (t) => {
    const s = given(registered(), wire('agent.heartbeat', {
      status: 'online', instanceId: 'i-primary', mode: 'spot', poolId: POOL_A, spotPrice: '0.05', onDemandPrice: '0.096',
    }, { at: at(5) }))
    const r = when(s, heartbeat({ at: at(1) }))
    t.match(r.state, { spotPrice: '0.05', instanceAt: at(5), lastHeartbeatAt: at(5) })
  })
  t.test('a heartbeat of a new instance before its switch report moves the agent; the switch then changes nothing', async (t) => {
    const s = when(given(registered()), heartbeat({ instanceId: 'i-2', poolId: POOL_C, at: at(2) })).state
    t.match(s, { instanceId: 'i-2', poolId: POOL_C, formerInstances: ['i-primary'] })
    const r = when(s, switched('i-primary', 'i-2', { at: at(1) }))
    t.match(r.state, { instanceId: 'i-2', instanceAt: at(2), spotPrice: '0.0345' })
  })
})

t.test('derived numbers never refuse a signal (issue 8 §2): saturated durations, clock skew recorded', async (t) => {
  for (const [name, occurredAt, response, skew] of [
    ['occurredAt in 1970', '1970-01-01T00:00:00.000Z', 2_147_483_647, Date.parse('1970-01-01T00:00:00.000Z') - NOW.getTime()],
    ['occurredAt 25 days ago', new Date(NOW.getTime() - 25 * 86_400_000).toISOString(), 2_147_483_647, -25 * 86_400_000],
    ['occurredAt an hour in the future', new Date(NOW.getTime() + 3_600_000).toISOString(), 0, 3_600_000],
  ] as const) {
    t.test(name, async (t) => {
      const signal = termination({ at: occurredAt, terminationTime: occurredAt })
      const failover = when(withReplica('ready'), signal)
      t.match(find(failover.decisions, 'decision.failover_executed').data, { responseTimeMs: response, failoverTimeMs: response })
      t.match(find(failover.decisions, 'decision.signal_recorded').data, { responseTimeMs: response, clockSkewMs: skew })
      const snapshot = when(given(registered()), signal)
      t.match(find(snapshot.decisions, 'decision.signal_recorded').data, { responseAction: 'emergency-snapshot', responseTimeMs: response, clockSkewMs: skew })
      t.ok(DecisionEventSchema.safeParse(find(snapshot.decisions, 'decision.signal_recorded')).success, 'the decision passes its own schema')
    })
  }
})

t.test('unknown agents (issue 8 §4): parked until the registration, then applied in order', async (t) => {
  t.test('an input before the registration is parked: nothing applied, no rejection', async (t) => {
    const e = termination({ at: at(0, 5) })
    const r = when(given(), e)
    t.equal(r.rejection, undefined)
    t.same(types(r.decisions), ['decision.input_parked'])
    t.same(r.commands, [])
    t.match(r.state, { registered: false, instanceId: null, parked: [{ eventId: e.eventId, occurredAt: e.occurredAt }] })
  })
  t.test('the registration binds the client and releases the parked inputs by occurredAt, then event id', async (t) => {
    const a = heartbeat({ at: at(1), eventId: uuid(3, 4), clientId: uuid(1, 77) })
    const b = termination({ at: at(0, 5), eventId: uuid(2, 4) })
    const c = rebalance({ at: at(0, 5), eventId: uuid(1, 4) })
    let s = given()
    for (const x of [a, b, c]) s = when(s, x).state
    const reg = registered({ clientId: uuid(1, 77) })
    const r = when(s, reg)
    t.same(types(r.decisions), ['decision.parked_released'])
    t.same(find(r.decisions, 'decision.parked_released').data.eventIds, [c.eventId, b.eventId, a.eventId])
    t.match(r.state, { registered: true, clientId: uuid(1, 77), parked: [] })
  })
  t.test('a registration claiming another client\'s agent is refused', async (t) =>
    rejects(t, given(registered()), registered({ clientId: uuid(1, 77) }), /belongs to another client/))
  t.test('replay applies parked inputs at the registration, with their decisions', async (t) => {
    const e = env()
    const early = [termination({ at: at(0, 5) }), configChanged({ manualReplicaEnabled: true }, { at: at(0, 1) })]
    const inputs: AgentInput[] = [...early, registered({ at: at(0, 10) })]
    let live = initialAgentState(AGENT, CLIENT)
    const log: AgentEvent[] = [...inputs]
    const pending = new Map(early.map((x) => [x.eventId, x]))
    const queue = [...inputs]
    for (let input = queue.shift(); input; input = queue.shift()) {
      const out = decide(input, live, e)
      live = applyOutcome(live, input, out)
      log.push(...out.decisions)
      queue.unshift(...releasedBy(out).map((id) => pending.get(id)!))
    }
    t.match(live, { registered: true, manualReplicaEnabled: true, lastInterruptionSignal: at(0, 5) })
    t.same(replay(initialAgentState(AGENT, CLIENT), log), live)
  })
})

/** The events that withReplica folds. */
function withReplicaEvents(stage: 'ready'): AgentEvent[] {
  return stage === 'ready' ? [registered(), requested(R1), launched(R1), ready(R1)] : []
}

/** Prior events plus what the rules decided on `input`, as they would stand in the log. */
function replayable(prior: AgentEvent[], input: AgentInput): AgentEvent[] {
  const out = decide(input, given(...prior), env())
  return [...prior, input, ...out.decisions]
}

t.test('replica lifecycle', async (t) => {
  t.test('replica.launched completes the requested replica', async (t) => {
    const r = when(withReplica('launching'), launched(R1))
    t.same(r.decisions, [])
    t.match(r.state.replicas[R1], { status: 'launching', instanceId: 'i-replica', hourlyCost: '0.031' })
  })
  t.test('replica.sync_progress moves the replica to syncing', async (t) => {
    const r = when(withReplica('launched'), syncing(R1))
    t.match(r.state.replicas[R1], { status: 'syncing', syncStatus: 'syncing', syncLatencyMs: 120, stateTransferProgress: 42.5 })
  })
  t.test('replica.ready marks the replica ready', async (t) => {
    const r = when(withReplica('syncing'), ready(R1, { at: at(1) }))
    t.match(r.state.replicas[R1], { status: 'ready', syncStatus: 'synced', readyAt: at(1) })
  })
  t.test('replica.terminated ends the live replica and clears the current replica', async (t) => {
    const r = when(withReplica('ready'), wire('replica.terminated', { replicaId: R1, reason: 'spot reclaimed' }))
    t.match(r.state, { currentReplicaId: null, replicas: { [R1]: { status: 'terminated', terminationReason: 'spot reclaimed' } } })
  })
  t.test('replica.failed ends the live replica and clears the current replica', async (t) => {
    const r = when(withReplica('launched'), wire('replica.failed', { replicaId: R1, error: 'InsufficientInstanceCapacity' }))
    t.match(r.state, { currentReplicaId: null, replicas: { [R1]: { status: 'failed', errorMessage: 'InsufficientInstanceCapacity' } } })
  })
  t.test('replica.promoted confirms a requested promotion and names the serving instance', async (t) => {
    const s = given(...replayable(withReplicaEvents('ready'), termination()))
    const r = when(s, wire('replica.promoted', { replicaId: R1, newInstanceId: 'i-replica-2' }))
    t.same(r.decisions, [])
    t.match(r.state, { instanceId: 'i-replica-2', replicas: { [R1]: { status: 'promoted', instanceId: 'i-replica-2' } } })
  })
  t.test('replica.launched of an unknown replica with none live adopts it', async (t) => {
    const r = when(given(registered()), launched(R2))
    t.same(r.decisions, [])
    t.match(r.state, { currentReplicaId: R2, replicas: { [R2]: { status: 'launching', createdBy: 'agent', poolId: POOL_B } } })
  })
  t.test('replica.terminated confirming a termination the service requested is accepted and changes nothing', async (t) => {
    const s = given(...replayable([registered(), requested(R1), launched(R1)], user('user.replica_delete_requested', { replicaId: R1 })))
    const r = when(s, wire('replica.terminated', { replicaId: R1, reason: 'requested' }))
    t.equal(r.rejection, undefined)
    t.same(r.state, s)
  })
  t.test('progress and readiness sent before the agent heard its replica ended are accepted and change nothing', async (t) => {
    const terminated = given(registered(), requested(R1), launched(R1), wire('replica.terminated', { replicaId: R1, reason: 'x' }))
    const promoted = given(...replayable(withReplicaEvents('ready'), termination()))
    t.match(promoted.replicas[R1], { status: 'promoted' })
    for (const [name, s, input] of [
      ['sync_progress after replica.terminated', terminated, syncing(R1)], ['ready after replica.terminated', terminated, ready(R1)],
      ['sync_progress after the failover promoted it', promoted, syncing(R1)], ['ready after the failover promoted it', promoted, ready(R1)],
    ] as const) {
      const r = when(s, input)
      t.equal(r.rejection, undefined, name)
      t.same(r.decisions, [], `${name}: no decision`)
      t.same(r.state, s, `${name}: state unchanged`)
    }
  })
  t.test('late, duplicate and out-of-order replica events are rejected with state unchanged', async (t) => {
    const terminated = given(registered(), requested(R1), launched(R1), wire('replica.terminated', { replicaId: R1, reason: 'x' }))
    t.test('replica.failed after replica.terminated', async (t) =>
      rejects(t, terminated, wire('replica.failed', { replicaId: R1, error: 'x' }), /already terminated/))
    t.test('replica.launched after replica.terminated', async (t) => rejects(t, terminated, launched(R1), /already terminated/))
    t.test('a second replica.launched', async (t) => rejects(t, withReplica('launched'), launched(R1), /already reported launched/))
    t.test('a second replica.ready', async (t) => rejects(t, withReplica('ready'), ready(R1), /already ready/))
    t.test('replica.ready before replica.launched', async (t) => rejects(t, withReplica('launching'), ready(R1), /not been reported launched/))
    t.test('an event for an unknown replica', async (t) => rejects(t, given(registered()), ready(R2), /unknown replica/))
    t.test('replica.launched of an unknown replica while another is live', async (t) =>
      rejects(t, withReplica('ready'), launched(R2), /already live/))
    t.test('replica.promoted without a requested promotion', async (t) =>
      rejects(t, withReplica('ready'), wire('replica.promoted', { replicaId: R1, newInstanceId: 'i-replica' }), /was not requested/))
    t.test('replica.terminated after its promotion', async (t) => {
      const s = given(...replayable(withReplicaEvents('ready'), termination()))
      rejects(t, s, wire('replica.terminated', { replicaId: R1, reason: 'x' }), /was promoted/)
    })
  })
  t.test('each refusal names its rule by a code (HTTP answers it as the 409\'s rule)', async (t) => {
    const terminated = given(registered(), requested(R1), launched(R1), wire('replica.terminated', { replicaId: R1, reason: 'x' }))
    const cases: [string, AgentState, AgentInput, RefusalCode][] = [
      ['another client', given(registered()), rebalance({ clientId: uuid(1, 77) }), 'other_client'],
      ['after termination', terminated, launched(R1), 'replica_not_live'],
      ['a second launch', withReplica('launched'), launched(R1), 'already_reported'],
      ['ready before launched', withReplica('launching'), ready(R1), 'replica_not_launched'],
      ['unknown replica', given(registered()), ready(R2), 'unknown_replica'],
      ['a second live replica', withReplica('ready'), user('user.replica_create_requested', { replicaId: R2 }), 'replica_already_live'],
      ['the current pool', given(registered()), user('user.replica_create_requested', { replicaId: R2, poolId: POOL_A }), 'pool_mismatch'],
      ['promotion of a launching replica', withReplica('launched'), user('user.replica_promote_requested', { replicaId: R1 }), 'replica_launching'],
      ['promotion not requested', withReplica('ready'), wire('replica.promoted', { replicaId: R1, newInstanceId: 'i-replica' }), 'promotion_not_requested'],
    ]
    for (const [name, state, input, code] of cases) t.equal(when(state, input).rejectionCode, code, name)
    t.equal(new Set(cases.map((c) => c[3])).size, cases.length, 'distinct rules, distinct codes')
  })
})

t.test('user requests', async (t) => {
  t.test('create launches a manual replica in the cheapest other pool with the id the request carries', async (t) => {
    const e = env()
    const r = when(given(registered()), user('user.replica_create_requested', { replicaId: R2 }), e)
    t.same(types(r.decisions), ['decision.replica_requested'])
    t.match(r.decisions[0]!.data, { replicaId: R2, poolId: POOL_B, replicaType: 'manual', createdBy: 'user' })
    t.equal(e.queries[0]!.prefer, 'cheapest')
    t.same(r.commands.map((c) => c.data), [{ replicaId: R2, poolId: POOL_B, reason: 'user-requested' }])
    t.equal(r.state.currentReplicaId, R2)
  })
  t.test('create in a pool the user chose uses it', async (t) => {
    const r = when(given(registered()), user('user.replica_create_requested', { replicaId: R2, poolId: POOL_C }))
    t.match(r.decisions[0]!.data, { poolId: POOL_C })
  })
  t.test('create in the current pool is rejected', async (t) =>
    rejects(t, given(registered()), user('user.replica_create_requested', { replicaId: R2, poolId: POOL_A }), /current pool/))
  t.test('a second create while a replica is live is rejected', async (t) =>
    rejects(t, withReplica('ready'), user('user.replica_create_requested', { replicaId: R2 }), /already live/))
  t.test('create with the id of an existing replica is rejected', async (t) => {
    const s = given(registered(), requested(R1), wire('replica.failed', { replicaId: R1, error: 'x' }))
    rejects(t, s, user('user.replica_create_requested', { replicaId: R1 }), /already exists/)
  })
  t.test('create with no pool available is rejected', async (t) =>
    rejects(t, given(registered()), user('user.replica_create_requested', { replicaId: R2 }), /no spot pool/, env({ choosePool: () => null })))
  t.test('create in a pool of another instance type is rejected (issue 8 §8)', async (t) =>
    rejects(t, given(registered()), user('user.replica_create_requested', { replicaId: R2, poolId: 'c5.large.us-east-1b' }), /instance type c5.large, the agent runs m5.large/))
  t.test('create in a pool of another region is rejected (issue 8 §8)', async (t) =>
    rejects(t, given(registered()), user('user.replica_create_requested', { replicaId: R2, poolId: 'm5.large.us-west-2a' }), /region us-west-2, the agent runs in us-east-1/))
  t.test('promote of a ready replica switches the agent to it without counting an interruption', async (t) => {
    const r = when(withReplica('ready'), user('user.replica_promote_requested', { replicaId: R1 }))
    t.same(types(r.decisions), ['decision.replica_promoted'])
    t.match(r.decisions[0]!.data, { replicaId: R1, oldInstanceId: 'i-primary', newInstanceId: 'i-replica', oldPoolId: POOL_A, newPoolId: POOL_B })
    t.same(types(r.commands), ['command.promote_replica'])
    t.match(r.state, { instanceId: 'i-replica', poolId: POOL_B, currentReplicaId: null, interruptionHandledCount: 0, lastFailoverAt: null })
  })
  t.test('promote of a replica that is not live is rejected', async (t) => {
    const s = given(registered(), requested(R1), launched(R1), wire('replica.terminated', { replicaId: R1, reason: 'x' }))
    rejects(t, s, user('user.replica_promote_requested', { replicaId: R1 }), /terminated, not live/)
  })
  t.test('promote of a replica still launching is rejected', async (t) =>
    rejects(t, withReplica('launched'), user('user.replica_promote_requested', { replicaId: R1 }), /still launching/))
  t.test('promote of an unknown replica is rejected', async (t) =>
    rejects(t, given(registered()), user('user.replica_promote_requested', { replicaId: R2 }), /unknown replica/))
  t.test('delete terminates a live replica', async (t) => {
    const r = when(withReplica('syncing'), user('user.replica_delete_requested', { replicaId: R1 }))
    t.same(types(r.decisions), ['decision.replica_termination_requested'])
    t.same(r.commands.map((c) => [c.type, c.data]), [['command.terminate_replica', { replicaId: R1 }]])
    t.match(r.state, { currentReplicaId: null, replicas: { [R1]: { status: 'terminated', terminationReason: 'user-requested' } } })
  })
  t.test('delete of a replica that is not live is rejected', async (t) => {
    const s = given(registered(), requested(R1), wire('replica.failed', { replicaId: R1, error: 'x' }))
    rejects(t, s, user('user.replica_delete_requested', { replicaId: R1 }), /failed, not live/)
  })
})

t.test('replay', async (t) => {
  t.test('applies each input then its decisions, skips rejected inputs, never decides again, and equals the live fold', async (t) => {
    const e = env()
    const inputs: AgentInput[] = [
      registered(), rebalance(), // a replica is requested in pool B
      termination({ at: at(0, 5) }), // emergency snapshot: the replica is still launching
      launched(R1, { at: at(1) }), // a replica nobody requested while one is live: rejected
      configChanged({ manualReplicaEnabled: true }),
    ]
    let live = initialAgentState(AGENT, CLIENT)
    const log: AgentEvent[] = []
    const decisions: DecisionEvent[] = []
    for (const input of inputs) {
      const out = decide(input, live, e)
      live = applyOutcome(live, input, out)
      log.push(input) // as event_log stores a batch: all inputs first ...
      decisions.push(...out.decisions)
    }
    log.push(...decisions) // ... then the decisions
    t.ok(decisions.some((d) => d.type === 'decision.rejected'), 'the scenario has a rejection')
    t.same(replay(initialAgentState(AGENT, CLIENT), log), live)
    t.notSame(log.reduce(evolve, initialAgentState(AGENT, CLIENT)), live, 'a plain fold in log order would differ')
  })
})
