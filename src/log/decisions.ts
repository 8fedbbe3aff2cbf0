/**
 * Decisions: what the deciders concluded, appended to event_log with the
 * input as cause (DESIGN §1). A decision carries everything a replay needs to
 * rebuild state without deciding again, above all the pool a replica was put
 * in: that choice read the cross-partition pool ranking. Projections receive
 * them after their cause.
 */
import { z } from 'zod'
import type { StoredEvent } from './stored-event.js'
import {
  EnvelopeSchema, InstanceIdSchema, IsoDateTimeSchema, MoneySchema, PoolIdSchema, ReplicaIdSchema, ReplicaTypeSchema, SwitchTargetSchema,
} from '../events/schemas.js'

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
  // Absent in decisions logged before 016 (the agent stays as it was: enabled unless switched off since).
  enabled: z.boolean().optional(),
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
/** A forced switch was sent to the agent (command.switch_instance); state changes when the agent reports the switch. */
export const SwitchRequestedDecisionSchema = defineDecision('decision.switch_requested', z.object({
  target: SwitchTargetSchema, poolId: Nullable(PoolIdSchema),
}))
/**
 * Why a decider refused an input, as a stable code (HTTP answers it as the
 * 409's `rule`, beside the reason in words).
 */
export const REFUSAL_CODES = [
  'other_client', 'foreign_replica', 'unknown_replica', 'replica_not_live', 'replica_not_launched', 'already_reported',
  'replica_already_live', 'replica_exists', 'replica_launching', 'promotion_not_requested', 'replica_promoted',
  'no_pool', 'pool_mismatch', 'already_there', 'pool_required',
] as const
export const RefusalCodeSchema = z.enum(REFUSAL_CODES)
export type RefusalCode = z.infer<typeof RefusalCodeSchema>

/** The cause (causeEventId) left state unchanged; a replay skips it. */
export const RejectedSchema = defineDecision('decision.rejected', z.object({
  reason: z.string(), rejectedType: z.string(),
  /** Absent in rejections logged before codes existed. */
  code: RefusalCodeSchema.optional(),
}))

/**
 * The agent sent nothing for offlineSeconds: caused by a timer (the offline
 * sweep, src/agent/offline-sweep.ts), not by an input. Its cause is the
 * agent's last input, the one the silence followed, so a replay applies it
 * right where it stands; the next heartbeat brings the agent back online.
 */
export const AgentOfflineSchema = defineDecision('decision.agent_offline', z.object({
  /** When the agent's last input was received (the service's clock). */
  lastSeenAt: IsoDateTimeSchema,
  /** When the sweep marked it (the service's clock). */
  sweptAt: IsoDateTimeSchema,
  offlineSeconds: z.int().min(1),
}))
export type AgentOfflineDecision = z.infer<typeof AgentOfflineSchema>

export const DecisionEventSchema = z.discriminatedUnion('type', [
  ConfigAppliedSchema, ReplicaRequestedSchema, ReplicaUnavailableSchema, ReplicaTerminationRequestedSchema,
  ReplicaPromotedDecisionSchema, FailoverExecutedSchema, EmergencySnapshotRequestedSchema, SignalRecordedSchema,
  InputParkedSchema, ParkedReleasedSchema, RejectedSchema, SwitchRequestedDecisionSchema, AgentOfflineSchema,
])
export type DecisionEvent = z.infer<typeof DecisionEventSchema>
export type DecisionType = DecisionEvent['type']
export type DecisionOf<T extends DecisionType> = Extract<DecisionEvent, { type: T }>
/** The ids of the parked inputs these decisions release, in the order they are to be applied (decision.parked_released). */
export function releasedIds(decisions: readonly StoredEvent[]): string[] {
  return decisions.flatMap((d) => (d.type === 'decision.parked_released' ? d.data.eventIds : []))
}

/** Whether these decisions hold their input back until its agent registers (decision.input_parked). */
export const parksInput = (decisions: readonly StoredEvent[]): boolean => decisions.some((d) => d.type === 'decision.input_parked')

/**
 * Decisions logged in a transaction of their own, after their cause's: a
 * reader of the log applies them where they stand, never with their cause
 * (which it may have read before they were written).
 */
export const STANDALONE_DECISIONS: ReadonlySet<string> = new Set(['decision.agent_offline'] satisfies DecisionType[])

export const DECISION_TYPES: readonly DecisionType[] = DecisionEventSchema.options.map((o) => o.shape.type.value)

export function isDecisionType(type: string): type is DecisionType {
  return (DECISION_TYPES as readonly string[]).includes(type)
}
