// The version-1 contract: every type accepts its example, bad fields are named
// by path, unknown keys are dropped, and the union narrows by `type`.
import t from 'tap'
import { renderIssues } from '../../src/events/parse.js'
import {
  DEFAULT_TOPICS, EVENT_TYPES, EventSchema, TOPIC_OF, eventTypesOn, isEventOf, partitionKeyOf,
  type EventOf, type SpotEvent,
} from '../../src/events/schemas.js'
import { AGENT_ID, EXAMPLES, example } from './fixtures/examples.js'

function issuesOf(input: unknown): string {
  const r = EventSchema.safeParse(input)
  return r.success ? '' : renderIssues(r.error.issues)
}

t.test('every event type accepts its example', async (t) => {
  t.equal(EVENT_TYPES.length, 19)
  t.same(Object.keys(EXAMPLES).sort(), [...EVENT_TYPES].sort())
  for (const type of EVENT_TYPES) {
    const r = EventSchema.safeParse(EXAMPLES[type])
    t.ok(r.success, `${type} ${r.success ? '' : renderIssues(r.error.issues)}`)
    t.equal(r.data?.type, type)
  }
})

t.test('money fields come out as decimal strings', async (t) => {
  const e = EventSchema.parse(example('agent.heartbeat'))
  t.ok(e.type === 'agent.heartbeat')
  if (e.type !== 'agent.heartbeat') return
  t.equal(e.data.spotPrice, '0.0345')
  t.equal(e.data.onDemandPrice, '0.096')
  const l = EventSchema.parse(example('replica.launched'))
  t.same(l.type === 'replica.launched' && l.data.hourlyCost, '0.0416')
})

t.test('bad envelopes and fields are reported by path', async (t) => {
  const cases: Array<[string, (e: Record<string, any>) => void, RegExp]> = [
    ['eventId not a uuid', (e) => { e.eventId = 'abc'; }, /^eventId: Invalid UUID/],
    ['clientId missing', (e) => { delete e.clientId; }, /^clientId: /],
    ['occurredAt without offset', (e) => { e.occurredAt = '2026-11-24T18:00:00'; }, /^occurredAt: /],
    ['version 2', (e) => { e.version = 2; }, /^version: /],
    ['data missing', (e) => { delete e.data; }, /^data: /],
    ['poolId malformed', (e) => { e.data.poolId = 'm5large'; }, /^data\.poolId: expected a pool id/],
    ['instanceId empty', (e) => { e.data.instanceId = ''; }, /^data\.instanceId: /],
    ['instanceId too long', (e) => { e.data.instanceId = 'i-'.padEnd(65, '0'); }, /^data\.instanceId: /],
    ['terminationTime not a date', (e) => { e.data.terminationTime = 'soon'; }, /^data\.terminationTime: /],
  ]
  for (const [name, mutate, expected] of cases) {
    const e = example('spot.termination_notice') as unknown as Record<string, any>
    mutate(e)
    t.match(issuesOf(e), expected, name)
  }
  t.match(issuesOf({ ...example('replica.ready'), type: 'replica.exploded' }), /^type: /)
})

t.test('type-specific rules', async (t) => {
  const sync = example('replica.sync_progress')
  t.match(issuesOf({ ...sync, data: { ...sync.data, stateTransferProgress: 101 } }), /^data\.stateTransferProgress: /)
  t.match(issuesOf({ ...sync, data: { ...sync.data, syncStatus: 'done' } }), /^data\.syncStatus: /)
  t.match(issuesOf({ ...sync, data: { ...sync.data, replicaId: 'r-1' } }), /^data\.replicaId: Invalid UUID/)
  t.match(issuesOf({ ...sync, data: { ...sync.data, syncLatencyMs: 1.5 } }), /^data\.syncLatencyMs: /)

  const hb = example('agent.heartbeat')
  t.match(issuesOf({ ...hb, data: { ...hb.data, mode: 'reserved' } }), /^data\.mode: /)
  t.match(issuesOf({ ...hb, data: { ...hb.data, spotPrice: -1 } }), /^data\.spotPrice: must not be negative/)
  t.match(issuesOf({ ...hb, data: { ...hb.data, onDemandPrice: 1_000_000 } }), /^data\.onDemandPrice: must be less than 1000000/)
  t.same(EventSchema.parse({ ...hb, data: { ...hb.data, onDemandPrice: 0.1 + 0.2 } }).data, { ...hb.data, onDemandPrice: '0.3', spotPrice: '0.0345' }, 'a float price is rounded to 6 places')

  const cfg = example('agent.config_changed')
  t.match(issuesOf({ ...cfg, data: {} }), /^data: at least one of/)
  t.match(issuesOf({ ...cfg, data: { autoSwtichEnabled: true } }), /^data: at least one of/, 'a typo is stripped, leaving nothing')
  t.match(issuesOf({ ...cfg, data: { autoSwitchEnabled: true, manualReplicaEnabled: true } }), /^data\.manualReplicaEnabled: .*cannot both be true/)
  t.equal(issuesOf({ ...cfg, data: { terminateWaitMinutes: 5 } }), '')
  t.match(issuesOf({ ...cfg, data: { terminateWaitMinutes: -1 } }), /^data\.terminateWaitMinutes: /)

  const reg = example('agent.registered')
  t.match(issuesOf({ ...reg, data: { ...reg.data, az: 'eu-west-1a' } }), /^data\.az: az must be in region/)

  const price = example('pricing.snapshot')
  t.match(issuesOf({ ...price, data: { ...price.data, az: 'us-east-1b' } }), /^data\.poolId: poolId must equal/)
  t.match(issuesOf({ ...price, data: { ...price.data, instanceType: 'm5.xlarge' } }), /^data\.poolId: /)
  t.match(issuesOf({ ...price, data: { ...price.data, observedAt: 'yesterday' } }), /^data\.observedAt: /)

  const m = example('instance.metrics')
  t.match(issuesOf({ ...m, data: { ...m.data, cpu: 140 } }), /^data\.cpu: /)
  t.match(issuesOf({ ...m, data: { ...m.data, networkOut: -5 } }), /^data\.networkOut: /)
})

t.test('unknown keys are stripped, in data and in the envelope', async (t) => {
  const m = example('instance.metrics')
  const parsed = EventSchema.parse({ ...m, traceId: 'x', data: { ...m.data, gpu: 99, diskIo: 7 } })
  t.notOk('traceId' in parsed)
  t.same(parsed.data, { instanceId: 'i-0abc1234def567890', cpu: 37.5, memory: 61, networkIn: 123456, diskIo: 7 })
})

t.test('the union narrows on type', async (t) => {
  const describe = (e: SpotEvent): string => {
    switch (e.type) {
      case 'spot.termination_notice': return `terminate ${e.data.instanceId} at ${e.data.terminationTime}`
      case 'pricing.snapshot': return `price ${e.data.poolId} ${e.data.spotPrice}`
      case 'agent.config_changed': return `config ${String(e.data.autoSwitchEnabled)}`
      default: return e.type
    }
  }
  const notice = EventSchema.parse(example('spot.termination_notice'))
  t.equal(describe(notice), 'terminate i-0abc1234def567890 at 2026-11-24T18:02:00Z')
  t.equal(describe(EventSchema.parse(example('pricing.snapshot'))), 'price m5.large.us-east-1a 0.0345')
  t.ok(isEventOf(notice, 'spot.termination_notice'))
  if (isEventOf(notice, 'spot.termination_notice')) {
    const n: EventOf<'spot.termination_notice'> = notice
    t.equal(n.data.poolId, 'm5.large.us-east-1a')
  }
  // Compile-time: an exhaustive switch over every type must type-check.
  const exhaustive = (e: SpotEvent): string => {
    switch (e.type) {
      case 'spot.rebalance_recommendation': case 'spot.termination_notice':
      case 'replica.launched': case 'replica.sync_progress': case 'replica.ready': case 'replica.promoted':
      case 'replica.terminated': case 'replica.failed': case 'agent.registered': case 'agent.heartbeat':
      case 'agent.instance_switched': case 'agent.config_changed': case 'instance.metrics':
      case 'pricing.snapshot': case 'command.launch_replica': case 'command.promote_replica':
      case 'command.terminate_replica': case 'command.emergency_snapshot': case 'command.switch_instance':
        return e.type
      default: {
        const never: never = e
        return never
      }
    }
  }
  t.equal(exhaustive(notice), 'spot.termination_notice')
})

t.test('topics and partition keys', async (t) => {
  t.same(DEFAULT_TOPICS, {
    spotInterruptions: 'spot-interruptions', replicaEvents: 'replica-events', agentEvents: 'agent-events',
    pricingSnapshots: 'pricing-snapshots', replicaCommands: 'replica-commands',
  })
  t.same(eventTypesOn('spotInterruptions'), ['spot.rebalance_recommendation', 'spot.termination_notice'])
  t.equal(eventTypesOn('replicaCommands').length, 5)
  t.equal(TOPIC_OF['pricing.snapshot'], 'pricingSnapshots')
  t.equal(TOPIC_OF['instance.metrics'], 'agentEvents')
  for (const type of EVENT_TYPES) {
    const e = EventSchema.parse(EXAMPLES[type])
    t.equal(partitionKeyOf(e), type === 'pricing.snapshot' ? 'm5.large.us-east-1a' : AGENT_ID, type)
  }
})
