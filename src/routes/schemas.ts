/**
 * Schemas shared by the route files: path parameters, pages, and the
 * response shapes of agents and replicas (the UI's field names). Request
 * bodies derive from the event schemas in src/events, so the HTTP door takes
 * exactly what the wire takes.
 */
import { z } from 'zod'
import { InstanceIdSchema } from '../events/fields.js'
import { RefusalCodeSchema } from '../log/decisions.js'

export const ClientParams = z.object({ clientId: z.uuid() })
export const AgentParams = z.object({ agentId: z.uuid() })
export const ReplicaParams = z.object({ agentId: z.uuid(), replicaId: z.uuid() })
export const InstanceParams = z.object({ instanceId: InstanceIdSchema })

/** Optional Idempotency-Key; the other headers pass through untouched (auth reads them). */
export const IdempotencyHeaders = z.looseObject({ 'idempotency-key': z.uuid('Idempotency-Key must be a uuid').optional() })

const iso = z.string().nullable()
const money = z.number().nullable()

export const AgentJson = z.object({
  id: z.string(), clientId: z.string(), logicalAgentId: z.string().nullable(), instanceId: z.string().nullable(),
  instanceType: z.string().nullable(), region: z.string().nullable(), az: z.string().nullable(), currentPoolId: z.string().nullable(),
  currentMode: z.string(), hostname: z.string().nullable(), status: z.string(), enabled: z.boolean(),
  lastHeartbeat: iso, lastHeartbeatAt: iso, instanceCount: z.int(), spotPrice: money, onDemandPrice: money,
  autoSwitchEnabled: z.boolean(), manualReplicaEnabled: z.boolean(), autoTerminateEnabled: z.boolean(), terminateWaitMinutes: z.int(),
  auto_switch_enabled: z.boolean(), auto_terminate_enabled: z.boolean(),
  currentReplicaId: z.string().nullable(), lastInterruptionSignal: iso, lastFailoverAt: iso, interruptionHandledCount: z.int(),
  agentVersion: z.string().nullable(), createdAt: iso,
})

export const ConfigResult = z.object({
  success: z.literal(true), agentId: z.string(),
  auto_switch_enabled: z.boolean(), manual_replica_enabled: z.boolean(), auto_terminate_enabled: z.boolean(),
  autoSwitchEnabled: z.boolean(), manualReplicaEnabled: z.boolean(), autoTerminateEnabled: z.boolean(), terminateWaitMinutes: z.int(),
  enabled: z.boolean(), currentReplicaId: z.string().nullable(),
  replicaPending: z.boolean().describe('manual mode is on and its replica waits for a pool to be known'),
  message: z.string().optional().describe('why the replica is pending'),
})

export const ReplicaJson = z.object({
  id: z.string(), agentId: z.string(), instanceId: z.string().nullable(), replicaType: z.string(), poolId: z.string(),
  instanceType: z.string().nullable(), region: z.string().nullable(), az: z.string().nullable(), status: z.string(), syncStatus: z.string(),
  syncLatencyMs: z.int().nullable(), stateTransferProgress: z.number(), hourlyCost: money, totalCost: z.number(), createdBy: z.string(),
  parentInstanceId: z.string().nullable(), errorMessage: z.string().nullable(), terminationReason: z.string().nullable(),
  createdAt: iso, readyAt: iso, promotedAt: iso, terminatedAt: iso,
})

export const LiveReplicaJson = z.object({
  agentId: z.string(),
  primary: z.object({ instanceId: z.string().nullable(), instanceType: z.string().nullable(), region: z.string().nullable(), az: z.string().nullable(), mode: z.string() }),
  replica: z.object({
    id: z.string(), instanceId: z.string().nullable(), type: z.string(), status: z.string(), sync_status: z.string(),
    sync_latency_ms: z.int().nullable(), state_transfer_progress: z.number(), pool: z.object({ name: z.string(), az: z.string().nullable() }),
    cost: z.object({ hourly: z.number().describe('0 until the agent reports the launch') }), created_at: iso, ready_at: iso,
  }),
})

/** The error body of every 4xx/5xx (errors.ts). */
export const ErrorJson = z.object({
  error: z.string(), message: z.string().optional(),
  /** A rule's refusal (409 rule_rejected): which rule, as a stable code. */
  rule: RefusalCodeSchema.optional(),
  issues: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), code: z.string(), message: z.string() })).optional(),
})
