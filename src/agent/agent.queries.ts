/**
 * Read queries over the agent rules' tables (agents, replica_instances), in
 * the shapes the UI reads. Every query is scoped (src/clients/scope.ts):
 * another client's agent, instance or replica is "not found", never data.
 */
import type { Kysely } from 'kysely'
import type { Scope } from '../clients/scope.js'
import type { AgentRow, Database, ReplicaInstanceRow } from '../db/database.js'
import { isoFromDb } from '../db/time.js'
import { NotFoundError } from '../errors.js'

const LIVE = ['launching', 'syncing', 'ready'] as const
const num = (d: string | null): number | null => (d === null ? null : Number(d))

/** The agent if `scope` sees it, else a NotFoundError. */
export async function ownedAgent(db: Kysely<Database>, scope: Scope, agentId: string): Promise<AgentRow> {
  let q = db.selectFrom('agents').selectAll().where('id', '=', agentId)
  if (scope.kind === 'client') q = q.where('client_id', '=', scope.clientId)
  const agent = await q.executeTakeFirst()
  if (agent === undefined) throw new NotFoundError(`agent ${agentId} not found`)
  return agent
}

/** The agent `scope` sees that currently runs `instanceId`, else a NotFoundError. */
export async function agentOfInstance(db: Kysely<Database>, scope: Scope, instanceId: string): Promise<AgentRow> {
  let q = db.selectFrom('agents').selectAll().where('instance_id', '=', instanceId)
  if (scope.kind === 'client') q = q.where('client_id', '=', scope.clientId)
  const agent = await q.orderBy('updated_at', 'desc').executeTakeFirst()
  if (agent === undefined) throw new NotFoundError(`instance ${instanceId} not found`)
  return agent
}

/** One of the agent's replicas, else a NotFoundError. */
export async function replicaOf(db: Kysely<Database>, agentId: string, replicaId: string): Promise<ReplicaInstanceRow> {
  const row = await db.selectFrom('replica_instances').selectAll().where('id', '=', replicaId).where('agent_id', '=', agentId).executeTakeFirst()
  if (row === undefined) throw new NotFoundError(`replica ${replicaId} not found`)
  return row
}

export function configJson(a: AgentRow) {
  return {
    autoSwitchEnabled: a.auto_switch_enabled === 1, manualReplicaEnabled: a.manual_replica_enabled === 1,
    autoTerminateEnabled: a.auto_terminate_enabled === 1, terminateWaitMinutes: a.terminate_wait_minutes,
    enabled: a.enabled === 1,
  }
}

/**
 * An agent as the Agents tab and the config dialog read it: camelCase, plus
 * the snake_case toggles the UI's switches read. `instanceCount` is the
 * instances running for the agent: its primary and a live replica's instance.
 */
export function agentJson(a: AgentRow, liveReplicaInstances: number) {
  const config = configJson(a)
  return {
    id: a.id, clientId: a.client_id, logicalAgentId: a.logical_agent_id, instanceId: a.instance_id,
    instanceType: a.instance_type, region: a.region, az: a.az, currentPoolId: a.current_pool_id, currentMode: a.current_mode,
    hostname: a.hostname, status: a.status,
    lastHeartbeat: isoFromDb(a.last_heartbeat_at), lastHeartbeatAt: isoFromDb(a.last_heartbeat_at),
    instanceCount: (a.instance_id === null ? 0 : 1) + liveReplicaInstances,
    spotPrice: num(a.spot_price), onDemandPrice: num(a.ondemand_price),
    ...config, auto_switch_enabled: config.autoSwitchEnabled, auto_terminate_enabled: config.autoTerminateEnabled,
    currentReplicaId: a.current_replica_id, lastInterruptionSignal: isoFromDb(a.last_interruption_signal),
    lastFailoverAt: isoFromDb(a.last_failover_at), interruptionHandledCount: a.interruption_handled_count,
    // The wire contract carries no agent version; the field is there because the UI reads it.
    agentVersion: null, createdAt: isoFromDb(a.created_at),
  }
}

export async function listAgents(db: Kysely<Database>, clientId: string) {
  const [agents, replicas] = await Promise.all([
    db.selectFrom('agents').selectAll().where('client_id', '=', clientId).orderBy('created_at').orderBy('id').execute(),
    db.selectFrom('replica_instances as r').innerJoin('agents as a', 'a.id', 'r.agent_id')
      .select(['r.agent_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('a.client_id', '=', clientId).where('r.status', 'in', LIVE).where('r.instance_id', 'is not', null)
      .groupBy('r.agent_id').execute(),
  ])
  const live = new Map(replicas.map((r) => [r.agent_id, Number(r.n)]))
  return agents.map((a) => agentJson(a, live.get(a.id) ?? 0))
}

/** The client's live replicas as the Replicas tab reads them: the primary beside its replica. */
export async function liveReplicas(db: Kysely<Database>, clientId: string) {
  // From the client's agents to each one's live replica by the one-live-replica unique key (live_agent_id is the agent
  // id while the replica is launching, syncing or ready): ended replicas, which pile up, are never read.
  const rows = await db.selectFrom('agents as a').innerJoin('replica_instances as r', 'r.live_agent_id', 'a.id')
    .select([
      'a.id as agent_id', 'a.instance_id as primary_instance_id', 'a.instance_type as primary_instance_type', 'a.region as primary_region',
      'a.az as primary_az', 'a.current_mode as primary_mode',
      'r.id', 'r.instance_id', 'r.replica_type', 'r.status', 'r.sync_status', 'r.sync_latency_ms', 'r.state_transfer_progress',
      'r.pool_id', 'r.az', 'r.hourly_cost', 'r.created_at', 'r.ready_at',
    ])
    .where('a.client_id', '=', clientId).execute()
  // Sorted here, not by the server: a filesort of the thousand wide rows cost more than the join.
  rows.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return rows.map((r) => ({
    agentId: r.agent_id,
    primary: { instanceId: r.primary_instance_id, instanceType: r.primary_instance_type, region: r.primary_region, az: r.primary_az, mode: r.primary_mode },
    replica: {
      id: r.id, instanceId: r.instance_id, type: r.replica_type, status: r.status, sync_status: r.sync_status,
      sync_latency_ms: r.sync_latency_ms, state_transfer_progress: Number(r.state_transfer_progress),
      pool: { name: r.pool_id, az: r.az }, cost: { hourly: num(r.hourly_cost) ?? 0 },
      created_at: isoFromDb(r.created_at), ready_at: isoFromDb(r.ready_at),
    },
  }))
}

export function replicaJson(r: ReplicaInstanceRow) {
  return {
    id: r.id, agentId: r.agent_id, instanceId: r.instance_id, replicaType: r.replica_type, poolId: r.pool_id,
    instanceType: r.instance_type, region: r.region, az: r.az, status: r.status, syncStatus: r.sync_status,
    syncLatencyMs: r.sync_latency_ms, stateTransferProgress: Number(r.state_transfer_progress), hourlyCost: num(r.hourly_cost),
    totalCost: Number(r.total_cost), createdBy: r.created_by, parentInstanceId: r.parent_instance_id, errorMessage: r.error_message,
    terminationReason: r.termination_reason, createdAt: isoFromDb(r.created_at), readyAt: isoFromDb(r.ready_at),
    promotedAt: isoFromDb(r.promoted_at), terminatedAt: isoFromDb(r.terminated_at),
  }
}

export async function agentReplicas(db: Kysely<Database>, agentId: string) {
  const rows = await db.selectFrom('replica_instances').selectAll().where('agent_id', '=', agentId)
    .orderBy('created_at', 'desc').orderBy('id').execute()
  return rows.map(replicaJson)
}

/** How many of the client's agents run in each mode (the modes with none are left out). */
export async function modeDistribution(db: Kysely<Database>, clientId: string) {
  const rows = await db.selectFrom('agents').select(['current_mode', (eb) => eb.fn.countAll<number>().as('n')])
    .where('client_id', '=', clientId).groupBy('current_mode').orderBy('current_mode').execute()
  return rows.map((r) => ({ mode: r.current_mode, count: Number(r.n) }))
}
