/**
 * Rows to the camelCase shapes of the UI this service replaces. DATETIME text
 * (UTC) becomes ISO 8601, DECIMAL text becomes a number: the API is for
 * display, the exact text stays in the database.
 */
import type { Selectable } from 'kysely'
import type { ActiveReplicasView, AgentRow, ReplicaInstanceRow } from '../db/database.js'
import { isoFromDb } from '../db/time.js'

const num = (d: string | null): number | null => (d === null ? null : Number(d))

export function agentJson(a: AgentRow) {
  return {
    id: a.id, clientId: a.client_id, logicalAgentId: a.logical_agent_id, instanceId: a.instance_id,
    instanceType: a.instance_type, region: a.region, az: a.az, currentPoolId: a.current_pool_id, currentMode: a.current_mode,
    hostname: a.hostname, status: a.status, spotPrice: num(a.spot_price), onDemandPrice: num(a.ondemand_price),
    ...configJson(a),
    currentReplicaId: a.current_replica_id, lastInterruptionSignal: isoFromDb(a.last_interruption_signal),
    lastFailoverAt: isoFromDb(a.last_failover_at), interruptionHandledCount: a.interruption_handled_count,
    lastHeartbeatAt: isoFromDb(a.last_heartbeat_at), createdAt: isoFromDb(a.created_at),
  }
}

export function configJson(a: AgentRow) {
  return {
    autoSwitchEnabled: a.auto_switch_enabled === 1, manualReplicaEnabled: a.manual_replica_enabled === 1,
    autoTerminateEnabled: a.auto_terminate_enabled === 1, terminateWaitMinutes: a.terminate_wait_minutes,
  }
}

export function replicaJson(r: ReplicaInstanceRow) {
  return {
    id: r.id, agentId: r.agent_id, instanceId: r.instance_id, replicaType: r.replica_type, poolId: r.pool_id,
    instanceType: r.instance_type, region: r.region, az: r.az, status: r.status, syncStatus: r.sync_status,
    syncLatencyMs: r.sync_latency_ms, stateTransferProgress: num(r.state_transfer_progress), hourlyCost: num(r.hourly_cost),
    totalCost: num(r.total_cost), createdBy: r.created_by, parentInstanceId: r.parent_instance_id, errorMessage: r.error_message,
    terminationReason: r.termination_reason, createdAt: isoFromDb(r.created_at), readyAt: isoFromDb(r.ready_at),
    promotedAt: isoFromDb(r.promoted_at), terminatedAt: isoFromDb(r.terminated_at),
  }
}

export function activeReplicaJson(r: Selectable<ActiveReplicasView>) {
  return {
    id: r.replica_id, agentId: r.agent_id, primaryInstanceId: r.primary_instance_id, instanceId: r.replica_instance_id,
    replicaType: r.replica_type, poolId: r.pool_id, status: r.status, syncStatus: r.sync_status,
    syncLatencyMs: r.sync_latency_ms, stateTransferProgress: num(r.state_transfer_progress), hourlyCost: num(r.hourly_cost),
    createdAt: isoFromDb(r.created_at), readyAt: isoFromDb(r.ready_at),
  }
}
