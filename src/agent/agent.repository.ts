/**
 * SQL for the agent rules' shell: one set-based statement per table per
 * batch (DESIGN §1 cost model), and the mapping between rows and the pure
 * state of agent.state.ts. Decimals are normalised on the way in, so a price
 * read back from DECIMAL(12,6) equals the one the event carried.
 */
import { type Kysely, sql, type Transaction } from 'kysely'
import type { AgentParkedEventRow, AgentRow, Database, NewAgent, NewAgentParkedEvent, NewReplicaInstance, ReplicaInstanceRow } from '../db/database.js'
import { fromDbTime, isoFromDb, toDbTime } from '../db/time.js'
import { normaliseMoney, parsePoolId } from '../events/schemas.js'
import {
  type AgentState, type RecentSignal, type ReplicaState, type SignalType, FORMER_INSTANCES_KEPT, RECENT_SIGNALS_KEPT,
  initialAgentState, isLive,
} from './agent.state.js'

type Trx = Transaction<Database>

const money = (v: string | null): string | null => {
  if (v === null) return null
  const r = normaliseMoney(v)
  return r.ok ? r.value : v
}
const dbTime = (v: string | null): string | null => (v === null ? null : toDbTime(v))

/**
 * Locks the agents, registered or not, and reads the rows of those that are:
 * one upsert of their agent_locks rows (ON DUPLICATE KEY UPDATE takes the
 * exclusive lock at once; INSERT IGNORE would take a shared one and deadlock
 * on the upgrade), in id order so two transactions never wait in a cycle,
 * then one read. Only agent.registered creates an agents row.
 */
export async function lockAgents(trx: Trx, ids: readonly string[]): Promise<AgentRow[]> {
  const sorted = [...new Set(ids)].sort()
  await trx.insertInto('agent_locks').values(sorted.map((agent_id) => ({ agent_id })))
    .onDuplicateKeyUpdate({ agent_id: sql`agent_id` }).execute()
  return trx.selectFrom('agents').selectAll().where('id', 'in', sorted).orderBy('id').forUpdate().execute()
}

/** The parked inputs of these agents, in the order a registration applies them. */
export async function loadParked(trx: Trx, agentIds: readonly string[]): Promise<AgentParkedEventRow[]> {
  if (agentIds.length === 0) return []
  return trx.selectFrom('agent_parked_events').selectAll().where('agent_id', 'in', [...agentIds])
    .orderBy('agent_id').orderBy('occurred_at').orderBy('event_id').execute()
}

export async function insertParked(trx: Trx, rows: readonly NewAgentParkedEvent[]): Promise<void> {
  if (rows.length === 0) return
  await trx.insertInto('agent_parked_events').values([...rows]).onDuplicateKeyUpdate({ event_id: sql`event_id` }).execute()
}

export async function deleteParked(trx: Trx, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return
  await trx.deleteFrom('agent_parked_events').where('event_id', 'in', [...eventIds]).execute()
}

/** The agents' live replicas and the replicas the batch names, whoever owns them. */
export async function loadReplicas(trx: Trx, agentIds: readonly string[], replicaIds: readonly string[]): Promise<ReplicaInstanceRow[]> {
  if (agentIds.length === 0 && replicaIds.length === 0) return []
  return trx.selectFrom('replica_instances').selectAll()
    .where((eb) => eb.or([
      ...(agentIds.length > 0 ? [eb.and([eb('agent_id', 'in', [...agentIds]), eb('status', 'in', ['launching', 'syncing', 'ready'])])] : []),
      ...(replicaIds.length > 0 ? [eb('id', 'in', [...replicaIds])] : []),
    ])).execute()
}

/**
 * The newest RECENT_SIGNALS_KEPT recorded signals per agent, in the order
 * evolve keeps them (detected_at, then arrival). One statement, a bounded
 * backward walk of idx_interruption_agent_time per agent: never an agent's
 * whole history.
 */
export async function loadRecentSignals(db: Kysely<Database>, agentIds: readonly string[]): Promise<Map<string, RecentSignal[]>> {
  const out = new Map<string, RecentSignal[]>()
  if (agentIds.length === 0) return out
  const perAgent = [...agentIds].map((id) => sql`(
    SELECT id, agent_id, signal_type, instance_id, pool_id, detected_at, termination_time FROM spot_interruption_events
     WHERE agent_id = ${id} AND instance_id IS NOT NULL AND pool_id IS NOT NULL
     ORDER BY detected_at DESC, id DESC LIMIT ${RECENT_SIGNALS_KEPT})`)
  const r = await sql<{ agent_id: string, signal_type: SignalType, instance_id: string, pool_id: string, detected_at: string, termination_time: string | null }>`
    SELECT agent_id, signal_type, instance_id, pool_id, detected_at, termination_time
      FROM (${sql.join(perAgent, sql` UNION ALL `)}) AS recent ORDER BY agent_id, detected_at, id`.execute(db)
  for (const x of r.rows) {
    const list = out.get(x.agent_id) ?? []
    list.push({
      signalType: x.signal_type, instanceId: x.instance_id, poolId: x.pool_id, at: fromDbTime(x.detected_at).toISOString(),
      terminationTime: isoFromDb(x.termination_time),
    })
    out.set(x.agent_id, list)
  }
  return out
}

export interface PoolCandidate {
  poolId: string
  instanceType: string
  /** Interruptions over the ranking's window (30 days). */
  interruptions: number
  /** Latest observed spot price, null when none was seen. */
  spotPrice: number | null
}

/** Known active pools of these instance types, with their ranking and latest price. */
export async function loadPoolCandidates(trx: Trx, instanceTypes: readonly string[]): Promise<PoolCandidate[]> {
  if (instanceTypes.length === 0) return []
  const r = await sql<{ pool_id: string, instance_type: string, interruptions: string | number | null, spot_price: string | null }>`
    SELECT p.id AS pool_id, p.instance_type, r.interruptions_30d AS interruptions,
           (SELECT s.spot_price FROM pricing_snapshots_clean s WHERE s.pool_id = p.id
             ORDER BY s.observed_at DESC, s.id DESC LIMIT 1) AS spot_price
      FROM spot_pools p LEFT JOIN v_pool_reliability_ranking r ON r.pool_id = p.id
     WHERE p.is_active = 1 AND p.instance_type IN (${sql.join([...instanceTypes])})`.execute(trx)
  return r.rows.map((x) => ({
    poolId: x.pool_id, instanceType: x.instance_type, interruptions: Number(x.interruptions ?? 0),
    spotPrice: x.spot_price === null ? null : Number(x.spot_price),
  }))
}

export function replicaFromRow(r: ReplicaInstanceRow): ReplicaState {
  return {
    id: r.id, replicaType: r.replica_type, poolId: r.pool_id, instanceId: r.instance_id, status: r.status,
    syncStatus: r.sync_status, syncLatencyMs: r.sync_latency_ms, stateTransferProgress: Number(r.state_transfer_progress),
    hourlyCost: money(r.hourly_cost), createdBy: r.created_by, parentInstanceId: r.parent_instance_id,
    errorMessage: r.error_message, terminationReason: r.termination_reason, createdAt: isoFromDb(r.created_at)!,
    readyAt: isoFromDb(r.ready_at), promotedAt: isoFromDb(r.promoted_at), terminatedAt: isoFromDb(r.terminated_at),
  }
}

/** agents.former_instance_ids: a JSON array of ids; anything else reads as none. */
function formerInstances(text: string | null): string[] {
  if (text === null) return []
  try {
    const v: unknown = JSON.parse(text)
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(-FORMER_INSTANCES_KEPT) : []
  } catch {
    return []
  }
}

export function agentFromRow(a: AgentRow, replicas: readonly ReplicaState[], recentSignals: readonly RecentSignal[]): AgentState {
  const live = replicas.find((r) => isLive(r))
  return {
    ...initialAgentState(a.id, a.client_id),
    // Only agent.registered creates a row.
    registered: true, logicalAgentId: a.logical_agent_id, hostname: a.hostname,
    instanceId: a.instance_id, instanceAt: isoFromDb(a.instance_at), priceAt: isoFromDb(a.price_at), formerInstances: formerInstances(a.former_instance_ids),
    instanceType: a.instance_type, region: a.region, az: a.az, poolId: a.current_pool_id,
    mode: a.current_mode, status: a.status, lastHeartbeatAt: isoFromDb(a.last_heartbeat_at),
    spotPrice: money(a.spot_price), onDemandPrice: money(a.ondemand_price),
    autoSwitchEnabled: a.auto_switch_enabled === 1, manualReplicaEnabled: a.manual_replica_enabled === 1,
    autoTerminateEnabled: a.auto_terminate_enabled === 1, terminateWaitMinutes: a.terminate_wait_minutes,
    enabled: a.enabled === 1, manualReplicaPending: a.manual_replica_pending === 1,
    // The unique index allows one live replica; that row is the truth, whatever the pointer column says.
    currentReplicaId: live?.id ?? null,
    replicas: Object.fromEntries(replicas.map((r) => [r.id, r])),
    lastInterruptionSignal: isoFromDb(a.last_interruption_signal), lastFailoverAt: isoFromDb(a.last_failover_at),
    interruptionHandledCount: a.interruption_handled_count, recentSignals: [...recentSignals],
  }
}

const AGENT_COLUMNS = [
  // client_id too: a row the old code created for an early event carries that event's client until the registration.
  'client_id', 'logical_agent_id', 'instance_id', 'instance_type', 'region', 'az', 'current_pool_id', 'current_mode', 'hostname',
  'status', 'spot_price', 'ondemand_price', 'auto_switch_enabled', 'auto_terminate_enabled', 'terminate_wait_minutes',
  'manual_replica_enabled', 'current_replica_id', 'last_interruption_signal', 'last_failover_at',
  'interruption_handled_count', 'last_heartbeat_at', 'instance_at', 'former_instance_ids', 'enabled', 'manual_replica_pending', 'price_at',
] as const

/** `col = VALUES(col)` for each column: the upsert takes the new row's values. */
const fromValues = <C extends string>(cols: readonly C[]) =>
  Object.fromEntries(cols.map((c) => [c, sql<any>`VALUES(${sql.ref(c)})`])) as Record<C, ReturnType<typeof sql<any>>>

/**
 * The columns an agent's reported facts (heartbeats, signals) change. A row
 * whose changes lie within them is written with these alone, beside its key
 * and client (the INSERT needs both): half the SQL text of the whole row, and
 * the agents upsert of a heartbeat batch is one of its largest statements.
 */
const FACT_COLUMNS = [
  'status', 'last_heartbeat_at', 'instance_id', 'instance_at', 'current_pool_id', 'instance_type', 'region', 'az',
  'current_mode', 'spot_price', 'ondemand_price', 'price_at', 'former_instance_ids',
] as const satisfies readonly (typeof AGENT_COLUMNS)[number][]
const FACTS = new Set<string>(FACT_COLUMNS)
type AgentValues = Required<Pick<NewAgent, 'id' | (typeof AGENT_COLUMNS)[number]>>
type FactRow = Required<Pick<NewAgent, 'id' | 'client_id' | (typeof FACT_COLUMNS)[number]>>

function agentValues(s: AgentState): AgentValues {
  return {
    id: s.agentId, client_id: s.clientId, logical_agent_id: s.logicalAgentId, instance_id: s.instanceId,
    instance_type: s.instanceType, region: s.region, az: s.az, current_pool_id: s.poolId, current_mode: s.mode,
    hostname: s.hostname, status: s.status, spot_price: s.spotPrice, ondemand_price: s.onDemandPrice,
    auto_switch_enabled: s.autoSwitchEnabled ? 1 : 0, auto_terminate_enabled: s.autoTerminateEnabled ? 1 : 0,
    terminate_wait_minutes: s.terminateWaitMinutes, manual_replica_enabled: s.manualReplicaEnabled ? 1 : 0,
    current_replica_id: s.currentReplicaId, last_interruption_signal: dbTime(s.lastInterruptionSignal),
    last_failover_at: dbTime(s.lastFailoverAt), interruption_handled_count: s.interruptionHandledCount,
    last_heartbeat_at: dbTime(s.lastHeartbeatAt), instance_at: dbTime(s.instanceAt), price_at: dbTime(s.priceAt),
    former_instance_ids: s.formerInstances.length === 0 ? null : JSON.stringify(s.formerInstances),
    enabled: s.enabled ? 1 : 0, manual_replica_pending: s.manualReplicaPending ? 1 : 0,
  }
}

function factRow(r: AgentValues): FactRow {
  return {
    id: r.id, client_id: r.client_id, status: r.status, last_heartbeat_at: r.last_heartbeat_at, instance_id: r.instance_id,
    instance_at: r.instance_at, current_pool_id: r.current_pool_id, instance_type: r.instance_type, region: r.region, az: r.az,
    current_mode: r.current_mode, spot_price: r.spot_price, ondemand_price: r.ondemand_price, price_at: r.price_at,
    former_instance_ids: r.former_instance_ids,
  }
}

/** An agent row to write: `loaded` is the state read from its row in this transaction (absent when the row may not exist). */
export interface AgentWrite { state: AgentState, loaded?: AgentState }

export async function saveAgents(trx: Trx, writes: readonly AgentWrite[]): Promise<void> {
  const whole: AgentValues[] = []
  const facts: FactRow[] = []
  for (const w of writes) {
    const row = agentValues(w.state)
    const was = w.loaded ? agentValues(w.loaded) : null
    if (was && AGENT_COLUMNS.every((c) => FACTS.has(c) || row[c] === was[c])) facts.push(factRow(row))
    else whole.push(row)
  }
  if (whole.length > 0) await trx.insertInto('agents').values(whole).onDuplicateKeyUpdate(fromValues(AGENT_COLUMNS)).execute()
  // The row exists (it was read under this transaction's lock), so the INSERT only ever updates.
  if (facts.length > 0) await trx.insertInto('agents').values(facts).onDuplicateKeyUpdate(fromValues(FACT_COLUMNS)).execute()
}

export interface ReplicaWrite { agentId: string, clientId: string, replica: ReplicaState }

const REPLICA_COLUMNS = [
  'instance_id', 'replica_type', 'pool_id', 'instance_type', 'region', 'az', 'status', 'sync_status', 'sync_latency_ms',
  'state_transfer_progress', 'hourly_cost', 'created_by', 'parent_instance_id', 'error_message', 'termination_reason',
  'ready_at', 'promoted_at', 'terminated_at',
] as const

function replicaRow({ agentId, clientId, replica: r }: ReplicaWrite): NewReplicaInstance {
  const p = parsePoolId(r.poolId)
  return {
    id: r.id, agent_id: agentId, client_id: clientId, instance_id: r.instanceId, replica_type: r.replicaType,
    pool_id: r.poolId, instance_type: p?.instanceType ?? null, region: p?.region ?? null, az: p?.az ?? null,
    status: r.status, sync_status: r.syncStatus, sync_latency_ms: r.syncLatencyMs,
    state_transfer_progress: r.stateTransferProgress.toFixed(2), hourly_cost: r.hourlyCost, created_by: r.createdBy,
    parent_instance_id: r.parentInstanceId, error_message: r.errorMessage, termination_reason: r.terminationReason,
    created_at: toDbTime(r.createdAt), ready_at: dbTime(r.readyAt), promoted_at: dbTime(r.promotedAt),
    terminated_at: dbTime(r.terminatedAt),
  }
}

/**
 * Ended replicas are written before live ones: MariaDB applies a multi-row
 * upsert row by row, and a new live replica written while its predecessor's
 * row still says live would hit the one-live-replica unique key and, through
 * ON DUPLICATE KEY UPDATE, overwrite the predecessor's row.
 */
export async function saveReplicas(trx: Trx, writes: readonly ReplicaWrite[]): Promise<void> {
  if (writes.length === 0) return
  const ordered = [...writes].sort((a, b) => Number(isLive(a.replica)) - Number(isLive(b.replica)))
  await trx.insertInto('replica_instances').values(ordered.map(replicaRow))
    .onDuplicateKeyUpdate(fromValues(REPLICA_COLUMNS)).execute()
}
