/**
 * The agent aggregate's own event types, next to the wire contract of
 * src/events/schemas.ts:
 * - user requests: what the HTTP commands become before the rules see them.
 *   Same envelope as the wire contract, so the log stores one shape.
 * - decisions: what the rules concluded, appended to event_log with the input
 *   as cause (DESIGN §1). A decision carries everything a replay needs to
 *   rebuild state without deciding again, above all the pool a replica was
 *   put in: that choice read the cross-partition pool ranking.
 */
import { z } from 'zod'
import {
  EnvelopeSchema, InstanceIdSchema, IsoDateTimeSchema, MoneySchema, PoolIdSchema, ReplicaIdSchema,
  ReplicaTypeSchema, type EventOf,
} from '../events/schemas.js'

function defineRequest<const T extends string, D extends z.ZodObject>(type: T, data: D) {
  return EnvelopeSchema.extend({ type: z.literal(type), version: z.literal(1), data })
}

// ---- user requests (HTTP) ----

/** The HTTP layer generates replicaId, so it can answer with it before the agent reports anything. */
export const ReplicaCreateRequestedSchema = defineRequest('user.replica_create_requested', z.object({
  replicaId: ReplicaIdSchema, poolId: PoolIdSchema.optional(),
}))
export const ReplicaPromoteRequestedSchema = defineRequest('user.replica_promote_requested', z.object({ replicaId: ReplicaIdSchema }))
export const ReplicaDeleteRequestedSchema = defineRequest('user.replica_delete_requested', z.object({ replicaId: ReplicaIdSchema }))

export const UserRequestSchema = z.discriminatedUnion('type', [
  ReplicaCreateRequestedSchema, ReplicaPromoteRequestedSchema, ReplicaDeleteRequestedSchema,
])
export type UserRequest = z.infer<typeof UserRequestSchema>
export type UserRequestType = UserRequest['type']
export const USER_REQUEST_TYPES: readonly UserRequestType[] = UserRequestSchema.options.map((o) => o.shape.type.value)

/** Wire types the agent rules handle (config toggles from HTTP arrive as agent.config_changed). */
export const AGENT_WIRE_TYPES = [
  'spot.rebalance_recommendation', 'spot.termination_notice',
  'replica.launched', 'replica.sync_progress', 'replica.ready', 'replica.promoted', 'replica.terminated', 'replica.failed',
  'agent.registered', 'agent.heartbeat', 'agent.instance_switched', 'agent.config_changed',
] as const
export type AgentWireType = typeof AGENT_WIRE_TYPES[number]
export type AgentWireEvent = EventOf<AgentWireType>

/** Everything decide() accepts. */
export type AgentInput = AgentWireEvent | UserRequest
export type AgentInputType = AgentInput['type']
export type InputOf<T extends AgentInputType> = Extract<AgentInput, { type: T }>

// ---- decisions ----

function defineDecision<const T extends `decision.${string}`, D extends z.ZodObject>(type: T, data: D) {
  return EnvelopeSchema.extend({ type: z.literal(type), version: z.literal(1), causeEventId: z.uuid(), data })
}

const Nullable = <S extends z.ZodType>(s: S) => s.nullable()
export const ResponseActionSchema = z.enum(['replica-created', 'failover', 'emergency-snapshot', 'no-action', 'ignored'])
export const SignalTypeSchema = z.enum(['rebalance-recommendation', 'termination-notice'])

/** The configuration in force after a change, with the mutual exclusion already resolved. */
export const ConfigAppliedSchema = defineDecision('decision.config_applied', z.object({
  autoSwitchEnabled: z.boolean(), manualReplicaEnabled: z.boolean(),
  autoTerminateEnabled: z.boolean(), terminateWaitMinutes: z.int().min(0),
}))
export const ReplicaRequestedSchema = defineDecision('decision.replica_requested', z.object({
  replicaId: ReplicaIdSchema, poolId: PoolIdSchema, replicaType: ReplicaTypeSchema, reason: z.string(),
  parentInstanceId: Nullable(InstanceIdSchema), createdBy: z.enum(['system', 'user']),
}))
/** A replica was wanted (manual mode switched on) but no pool other than the excluded ones is known. */
export const ReplicaUnavailableSchema = defineDecision('decision.replica_unavailable', z.object({
  replicaType: ReplicaTypeSchema, reason: z.string(),
}))
export const ReplicaTerminationRequestedSchema = defineDecision('decision.replica_termination_requested', z.object({
  replicaId: ReplicaIdSchema, reason: z.string(),
}))
const PromotionData = z.object({
  replicaId: ReplicaIdSchema, oldInstanceId: Nullable(InstanceIdSchema), newInstanceId: InstanceIdSchema,
  oldPoolId: Nullable(PoolIdSchema), newPoolId: PoolIdSchema,
  // Prices around the switch, so the switch-history row and cost accrual need no lookup.
  onDemandPrice: Nullable(MoneySchema), oldSpotPrice: Nullable(MoneySchema), newSpotPrice: Nullable(MoneySchema),
  // When the new instance facts take effect, on the clock of the events they are
  // compared with: the signal's occurredAt for a failover, the request's for a
  // user promotion (not the decision time: a backlog decided today must not
  // hide the agent's later reports of the same day).
  effectiveAt: IsoDateTimeSchema,
})
/** Derived durations are saturated to fit their INT columns: a number the service derives never refuses an event. */
export const DURATION_MS_MAX = 2_147_483_647
const DurationMs = z.int().min(0).max(DURATION_MS_MAX)
/** A user promoted a replica (no interruption involved). */
export const ReplicaPromotedDecisionSchema = defineDecision('decision.replica_promoted', PromotionData)
export const FailoverExecutedSchema = defineDecision('decision.failover_executed', PromotionData.extend({
  signalEventId: z.uuid(), signalType: SignalTypeSchema,
  responseTimeMs: DurationMs, failoverTimeMs: DurationMs,
}))
export const EmergencySnapshotRequestedSchema = defineDecision('decision.emergency_snapshot_requested', z.object({
  instanceId: InstanceIdSchema, signalEventId: z.uuid(),
}))
/** One spot_interruption_events row: the signal and the response taken. */
export const SignalRecordedSchema = defineDecision('decision.signal_recorded', z.object({
  signalType: SignalTypeSchema, instanceId: InstanceIdSchema, poolId: PoolIdSchema,
  detectedAt: IsoDateTimeSchema, terminationTime: Nullable(IsoDateTimeSchema),
  responseAction: ResponseActionSchema, replicaId: Nullable(ReplicaIdSchema),
  responseTimeMs: DurationMs, failoverTimeMs: Nullable(DurationMs),
  // The signal's occurredAt minus the service's receive time (the decision's
  // clock): negative for a backlog or a clock behind, positive for a clock ahead.
  clockSkewMs: z.int(),
  success: z.boolean(), error: Nullable(z.string()),
}))
/**
 * The cause arrived before its agent's registration: it is kept in
 * agent_parked_events and applied when the registration arrives. A replay
 * skips it where it stands and applies it at the registration.
 */
export const InputParkedSchema = defineDecision('decision.input_parked', z.object({
  inputType: z.string(), inputOccurredAt: IsoDateTimeSchema, reason: z.string(),
}))
/** The registration releases the agent's parked inputs, applied right after it in this order (occurredAt, then event id). */
export const ParkedReleasedSchema = defineDecision('decision.parked_released', z.object({
  eventIds: z.array(z.uuid()),
}))
/** The cause (causeEventId) left state unchanged; a replay skips it. */
export const RejectedSchema = defineDecision('decision.rejected', z.object({
  reason: z.string(), rejectedType: z.string(),
}))

export const DecisionEventSchema = z.discriminatedUnion('type', [
  ConfigAppliedSchema, ReplicaRequestedSchema, ReplicaUnavailableSchema, ReplicaTerminationRequestedSchema,
  ReplicaPromotedDecisionSchema, FailoverExecutedSchema, EmergencySnapshotRequestedSchema, SignalRecordedSchema,
  InputParkedSchema, ParkedReleasedSchema, RejectedSchema,
])
export type DecisionEvent = z.infer<typeof DecisionEventSchema>
export type DecisionType = DecisionEvent['type']
export type DecisionOf<T extends DecisionType> = Extract<DecisionEvent, { type: T }>
export const DECISION_TYPES: readonly DecisionType[] = DecisionEventSchema.options.map((o) => o.shape.type.value)

/** What evolve() folds: inputs and the decisions taken on them. */
export type AgentEvent = AgentInput | DecisionEvent

export function isDecision(e: AgentEvent): e is DecisionEvent {
  return e.type.startsWith('decision.')
}

const AGENT_LOG_TYPES = new Set<string>([...AGENT_WIRE_TYPES, ...USER_REQUEST_TYPES, ...DECISION_TYPES])

/** Whether an event_log row of this type belongs to the agent aggregate's stream (commands do not: they change no state). */
export function isAgentEventType(type: string): boolean {
  return AGENT_LOG_TYPES.has(type)
}
