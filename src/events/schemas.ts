// The wire contract, version 1 (DESIGN §2): one zod object per event type and
// the discriminated union over them. Every other module takes its event types
// from here (z.infer), so a change to the contract is a change to this file.
//
// Decisions written down here because every consumer relies on them:
// - Unknown keys, in the envelope and in `data`, are stripped, not rejected: a
//   producer that is one minor release ahead (an extra metric, a debug field)
//   must not send its events to the dead-letter queue. A typo in a required
//   field still fails, because the field it was meant to be is then missing.
// - Money (prices, hourlyCost) is parsed from a JSON number or a decimal string
//   and always comes out as a canonical decimal string rounded half-even to
//   the column's 6 places (money.ts), ready for a DECIMAL(12,6) column; no
//   code downstream ever sees it as a float.
// - Every field is built from its column's limit (limits.ts): what passes
//   here fits the database; free text is cut to its column, not refused.
// - The envelope is the same for every type, pricing included: clientId and
//   agentId are always required. Pricing snapshots are reported by agents, so
//   they have both; consumers get one shape to store and to scope by tenant,
//   and only the partition key differs (poolId, see partitionKeyOf).
// - `version` is the literal 1 in the parsed type: older versions are upcast
//   before validation (parse.ts) and newer ones are refused, so anything typed
//   SpotEvent is the version-1 shape.
import { z } from 'zod'
import {
  AgentStatusSchema, AzSchema, CommandReasonSchema, CounterSchema, FlagSchema, HostnameSchema, InstanceIdSchema,
  InstanceTypeSchema, IsoDateTimeSchema, LatencyMsSchema, LogicalAgentIdSchema, ModeSchema, MoneySchema,
  PercentSchema, PoolIdSchema, RegionSchema, ReplicaErrorSchema, ReplicaIdSchema, ReplicaTypeSchema, SourceTypeSchema,
  SwitchTargetSchema, SwitchTriggerSchema, SyncStatusSchema, TerminationReasonSchema, UuidSchema, WaitMinutesSchema, azInRegion, parsePoolId,
} from './fields.js'

export {
  AzSchema, InstanceIdSchema, InstanceTypeSchema, IsoDateTimeSchema, ModeSchema, MoneySchema,
  PoolIdSchema, RegionSchema, ReplicaIdSchema, ReplicaTypeSchema, SwitchTargetSchema, SyncStatusSchema, UuidSchema,
  azInRegion, normaliseMoney, parsePoolId,
} from './fields.js'
export type { MoneyResult, PoolIdParts } from './fields.js'

export const EnvelopeSchema = z.object({
  eventId: UuidSchema,
  type: z.string().min(1),
  version: z.int().min(0),
  occurredAt: IsoDateTimeSchema,
  clientId: UuidSchema,
  agentId: UuidSchema,
  data: z.looseObject({}),
})

function defineEvent<const T extends string, D extends z.ZodObject>(type: T, data: D) {
  return EnvelopeSchema.extend({ type: z.literal(type), version: z.literal(1), data })
}

// spot-interruptions
export const SpotRebalanceRecommendationSchema = defineEvent('spot.rebalance_recommendation', z.object({
  instanceId: InstanceIdSchema, poolId: PoolIdSchema,
}))
export const SpotTerminationNoticeSchema = defineEvent('spot.termination_notice', z.object({
  instanceId: InstanceIdSchema, poolId: PoolIdSchema, terminationTime: IsoDateTimeSchema,
}))

// replica-events
export const ReplicaLaunchedSchema = defineEvent('replica.launched', z.object({
  replicaId: ReplicaIdSchema, instanceId: InstanceIdSchema, poolId: PoolIdSchema,
  replicaType: ReplicaTypeSchema, hourlyCost: MoneySchema,
}))
export const ReplicaSyncProgressSchema = defineEvent('replica.sync_progress', z.object({
  replicaId: ReplicaIdSchema, syncStatus: SyncStatusSchema,
  syncLatencyMs: LatencyMsSchema, stateTransferProgress: PercentSchema,
}))
export const ReplicaReadySchema = defineEvent('replica.ready', z.object({ replicaId: ReplicaIdSchema }))
export const ReplicaPromotedSchema = defineEvent('replica.promoted', z.object({
  replicaId: ReplicaIdSchema, newInstanceId: InstanceIdSchema,
}))
export const ReplicaTerminatedSchema = defineEvent('replica.terminated', z.object({
  replicaId: ReplicaIdSchema, reason: TerminationReasonSchema,
}))
export const ReplicaFailedSchema = defineEvent('replica.failed', z.object({
  replicaId: ReplicaIdSchema, error: ReplicaErrorSchema,
}))

// agent-events
export const AgentRegisteredSchema = defineEvent('agent.registered', z.object({
  logicalAgentId: LogicalAgentIdSchema, instanceId: InstanceIdSchema, instanceType: InstanceTypeSchema,
  region: RegionSchema, az: AzSchema, mode: ModeSchema, hostname: HostnameSchema,
  spotPrice: MoneySchema, onDemandPrice: MoneySchema,
}).refine((d) => azInRegion(d.az, d.region), { message: 'az must be in region', path: ['az'] }))
export const AgentHeartbeatSchema = defineEvent('agent.heartbeat', z.object({
  status: AgentStatusSchema, instanceId: InstanceIdSchema, mode: ModeSchema, poolId: PoolIdSchema,
  spotPrice: MoneySchema, onDemandPrice: MoneySchema,
}))
export const AgentInstanceSwitchedSchema = defineEvent('agent.instance_switched', z.object({
  oldInstanceId: InstanceIdSchema, newInstanceId: InstanceIdSchema,
  oldPoolId: PoolIdSchema, newPoolId: PoolIdSchema,
  onDemandPrice: MoneySchema, oldSpotPrice: MoneySchema, newSpotPrice: MoneySchema,
  trigger: SwitchTriggerSchema,
}))
const CONFIG_KEYS = ['autoSwitchEnabled', 'manualReplicaEnabled', 'autoTerminateEnabled', 'terminateWaitMinutes', 'enabled'] as const
export const AgentConfigChangedSchema = defineEvent('agent.config_changed', z.object({
  /** Off: the service takes no automatic action for the agent (the console's agent switch). */
  enabled: FlagSchema.optional(),
  autoSwitchEnabled: FlagSchema.optional(),
  manualReplicaEnabled: FlagSchema.optional(),
  autoTerminateEnabled: FlagSchema.optional(),
  terminateWaitMinutes: WaitMinutesSchema.optional(),
})
  // An empty change is a no-op that would still cost a log row and a rule run.
  .refine((d) => CONFIG_KEYS.some((k) => d[k] !== undefined), { message: `at least one of ${CONFIG_KEYS.join(', ')} is required` })
  // The two modes are mutually exclusive (DESIGN §3); a change that turns both
  // on is contradictory, not something the rules can pick a winner for.
  .refine((d) => !(d.autoSwitchEnabled === true && d.manualReplicaEnabled === true), {
    message: 'autoSwitchEnabled and manualReplicaEnabled cannot both be true', path: ['manualReplicaEnabled'],
  }))
export const InstanceMetricsSchema = defineEvent('instance.metrics', z.object({
  instanceId: InstanceIdSchema,
  cpu: PercentSchema, // utilisation, percent
  memory: PercentSchema, // utilisation, percent
  networkIn: CounterSchema.optional(), // bytes since the previous sample
  networkOut: CounterSchema.optional(),
  diskIo: CounterSchema.optional(), // operations since the previous sample
}))

// pricing-snapshots
export const PricingSnapshotSchema = defineEvent('pricing.snapshot', z.object({
  poolId: PoolIdSchema, instanceType: InstanceTypeSchema, region: RegionSchema, az: AzSchema,
  spotPrice: MoneySchema, onDemandPrice: MoneySchema, observedAt: IsoDateTimeSchema, sourceType: SourceTypeSchema,
})
  // The pool id is the aggregation key; parts that disagree with it would put
  // the price into one pool's chart and another pool's ranking.
  .refine((d) => {
    const p = parsePoolId(d.poolId)
    return p !== null && p.instanceType === d.instanceType && p.az === d.az && azInRegion(d.az, d.region)
  }, { message: 'poolId must equal `${instanceType}.${az}` with az in region', path: ['poolId'] }))

// replica-commands (produced by this service for the agents)
export const LaunchReplicaCommandSchema = defineEvent('command.launch_replica', z.object({
  replicaId: ReplicaIdSchema, poolId: PoolIdSchema, reason: CommandReasonSchema,
}))
export const PromoteReplicaCommandSchema = defineEvent('command.promote_replica', z.object({ replicaId: ReplicaIdSchema }))
export const TerminateReplicaCommandSchema = defineEvent('command.terminate_replica', z.object({ replicaId: ReplicaIdSchema }))
export const EmergencySnapshotCommandSchema = defineEvent('command.emergency_snapshot', z.object({ instanceId: InstanceIdSchema }))
/** A user's forced switch: move the agent to on-demand, or to a spot instance in `poolId`; the agent reports it with agent.instance_switched. */
export const SwitchInstanceCommandSchema = defineEvent('command.switch_instance', z.object({
  target: SwitchTargetSchema, poolId: PoolIdSchema.nullable(),
}))

export const EventSchema = z.discriminatedUnion('type', [
  SpotRebalanceRecommendationSchema, SpotTerminationNoticeSchema,
  ReplicaLaunchedSchema, ReplicaSyncProgressSchema, ReplicaReadySchema, ReplicaPromotedSchema,
  ReplicaTerminatedSchema, ReplicaFailedSchema,
  AgentRegisteredSchema, AgentHeartbeatSchema, AgentInstanceSwitchedSchema, AgentConfigChangedSchema,
  InstanceMetricsSchema,
  PricingSnapshotSchema,
  LaunchReplicaCommandSchema, PromoteReplicaCommandSchema, TerminateReplicaCommandSchema,
  EmergencySnapshotCommandSchema, SwitchInstanceCommandSchema,
])

/** A parsed, version-1 event (money normalised to decimal strings). */
export type SpotEvent = z.infer<typeof EventSchema>
/** What a producer may hand in before parsing (money as number or string). */
export type SpotEventInput = z.input<typeof EventSchema>
export type EventType = SpotEvent['type']
export type EventOf<T extends EventType> = Extract<SpotEvent, { type: T }>
export type DataOf<T extends EventType> = EventOf<T>['data']
export type EventInputOf<T extends EventType> = Extract<SpotEventInput, { type: T }>
export type DataInputOf<T extends EventType> = EventInputOf<T>['data']

export const EVENT_TYPES: readonly EventType[] = EventSchema.options.map((o) => o.shape.type.value)

export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && (EVENT_TYPES as readonly string[]).includes(type)
}

export function isEventOf<T extends EventType>(event: SpotEvent, type: T): event is EventOf<T> {
  return event.type === type
}

export type TopicKey = 'spotInterruptions' | 'replicaEvents' | 'agentEvents' | 'pricingSnapshots' | 'replicaCommands'
export type Topics = Readonly<Record<TopicKey, string>>

/** The topics the service consumes (all but the commands it publishes), in the order it subscribes. */
export const inputTopics = (t: Topics): string[] => [t.spotInterruptions, t.replicaEvents, t.agentEvents, t.pricingSnapshots]

export const DEFAULT_TOPICS: Topics = Object.freeze({
  spotInterruptions: 'spot-interruptions',
  replicaEvents: 'replica-events',
  agentEvents: 'agent-events',
  pricingSnapshots: 'pricing-snapshots',
  replicaCommands: 'replica-commands',
})

export const TOPIC_OF: Readonly<Record<EventType, TopicKey>> = Object.freeze({
  'spot.rebalance_recommendation': 'spotInterruptions',
  'spot.termination_notice': 'spotInterruptions',
  'replica.launched': 'replicaEvents',
  'replica.sync_progress': 'replicaEvents',
  'replica.ready': 'replicaEvents',
  'replica.promoted': 'replicaEvents',
  'replica.terminated': 'replicaEvents',
  'replica.failed': 'replicaEvents',
  'agent.registered': 'agentEvents',
  'agent.heartbeat': 'agentEvents',
  'agent.instance_switched': 'agentEvents',
  'agent.config_changed': 'agentEvents',
  'instance.metrics': 'agentEvents',
  'pricing.snapshot': 'pricingSnapshots',
  'command.launch_replica': 'replicaCommands',
  'command.promote_replica': 'replicaCommands',
  'command.terminate_replica': 'replicaCommands',
  'command.emergency_snapshot': 'replicaCommands',
  'command.switch_instance': 'replicaCommands',
})

/** Event types carried by one topic, for consumers that subscribe per topic. */
export function eventTypesOn(topic: TopicKey): EventType[] {
  return EVENT_TYPES.filter((t) => TOPIC_OF[t] === topic)
}

/**
 * The Kafka message key. Everything about one agent is keyed by agentId so it
 * stays in order on one partition (commands too, so an agent sees launch
 * before promote); pricing is keyed by pool so a pool's prices stay ordered.
 */
export function partitionKeyOf(event: SpotEvent): string {
  return event.type === 'pricing.snapshot' ? event.data.poolId : event.agentId
}
