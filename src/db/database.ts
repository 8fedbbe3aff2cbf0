/**
 * The database as Kysely sees it: one interface per table of db/migrations,
 * column for column, in the types the pool of connect.ts returns (DECIMAL and
 * DATETIME as strings, BIGINT and TINYINT(1) as numbers). DATABASE_COLUMNS
 * repeats the column names at run time so a test can compare them with the
 * migrated database; the type checks below keep it and the interfaces equal.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** DECIMAL: the exact decimal text; written as text too, never as a float. */
export type Decimal = string
/** DATE: 'YYYY-MM-DD'. */
export type DateOnly = string
/** DATETIME: UTC text ('YYYY-MM-DD HH:MM:SS[.fff]'); a Date is written as UTC. */
export type DateTime = ColumnType<string, string | Date, string | Date>
export type NullableDateTime = ColumnType<string | null, string | Date | null, string | Date | null>
/** A DATETIME with a default (CURRENT_TIMESTAMP(3)): optional on insert. */
export type DefaultedDateTime = ColumnType<string, string | Date | undefined, string | Date>
/**
 * BIGINT: read as a number (exact while below 2^53, which row ids and Kafka
 * offsets stay); written as a number or decimal text, as kafkajs gives offsets.
 */
export type BigInteger = ColumnType<number, number | string, number | string>
export type NullableBigInteger = ColumnType<number | null, number | string | null, number | string | null>
/** A STORED generated column: read only, NULL-able as the server declares it. */
export type Stored<T> = ColumnType<T | null, never, never>
/** A view column. */
type View<T> = { [K in keyof T]: ColumnType<T[K], never, never> }

export type Mode = 'spot' | 'on-demand'
export type ReplicaType = 'manual' | 'automatic-rebalance' | 'automatic-termination'
export type ReplicaStatus = 'launching' | 'syncing' | 'ready' | 'promoted' | 'terminated' | 'failed'
export type SyncStatus = 'initializing' | 'syncing' | 'synced' | 'out-of-sync'
export type SignalType = 'rebalance-recommendation' | 'termination-notice'

export interface SchemaMigrationsTable {
  version: string
  description: string | null
  applied_at: DefaultedDateTime
}

/** What a migration repaired in legacy data (db/legacy-repair.ts), one row per repair that changed rows. */
export interface MigrationRepairsTable {
  id: Generated<number>
  migration: string
  repair: string
  description: string
  row_count: number
  detail: string | null
  applied_at: DefaultedDateTime
}

export interface ClientsTable {
  id: string
  name: string
  email: string | null
  client_token: string | null
  token_hash: string | null
  is_active: Generated<number>
  total_savings: Generated<Decimal>
  created_at: DefaultedDateTime
  updated_at: DefaultedDateTime
}

export interface AgentsTable {
  id: string
  client_id: string
  logical_agent_id: string | null
  instance_id: string | null
  instance_type: string | null
  region: string | null
  az: string | null
  current_pool_id: string | null
  current_mode: Generated<Mode>
  hostname: string | null
  status: Generated<string>
  spot_price: Decimal | null
  ondemand_price: Decimal | null
  auto_switch_enabled: Generated<number>
  auto_terminate_enabled: Generated<number>
  terminate_wait_minutes: Generated<number>
  manual_replica_enabled: Generated<number>
  current_replica_id: string | null
  last_interruption_signal: NullableDateTime
  last_failover_at: NullableDateTime
  interruption_handled_count: Generated<number>
  last_heartbeat_at: NullableDateTime
  created_at: DefaultedDateTime
  updated_at: DefaultedDateTime
  /** occurredAt of the event that set instance and pool (010). */
  instance_at: NullableDateTime
  /** JSON array of the instances the agent left, newest last (010). */
  former_instance_ids: string | null
  /** Off: no automatic action for the agent (016). */
  enabled: Generated<number>
  /** Manual mode waits for a pool to place its replica in (016). */
  manual_replica_pending: Generated<number>
  /** occurredAt of the event that set mode and prices (020). */
  price_at: NullableDateTime
}

/** A projection of the log: what the console's bell shows (016). */
export interface NotificationsTable {
  id: string
  client_id: string
  agent_id: string | null
  kind: string
  severity: string
  message: string
  occurred_at: DateTime
}

/** Notifications marked read; kept apart so a replay of the projection keeps them (016). */
export interface NotificationReadsTable {
  id: string
  read_at: DefaultedDateTime
}

export interface SpotPoolsTable {
  id: string
  instance_type: string
  region: string
  az: string
  is_active: Generated<number>
  created_at: DefaultedDateTime
}

export interface InstancesTable {
  id: string
  client_id: string
  agent_id: string | null
  instance_type: string | null
  region: string | null
  az: string | null
  pool_id: string | null
  current_mode: Generated<Mode>
  is_active: Generated<number>
  spot_price: Decimal | null
  ondemand_price: Decimal | null
  installed_at: NullableDateTime
  terminated_at: NullableDateTime
  created_at: DefaultedDateTime
}

export interface InstanceSwitchesTable {
  id: Generated<number>
  event_id: string | null
  client_id: string
  agent_id: string | null
  old_instance_id: string | null
  new_instance_id: string | null
  old_pool_id: string | null
  new_pool_id: string | null
  old_mode: Mode | null
  new_mode: Mode | null
  on_demand_price: Decimal | null
  old_spot_price: Decimal | null
  new_spot_price: Decimal | null
  event_trigger: string | null
  reason: string | null
  savings_impact: Decimal | null
  switched_at: DefaultedDateTime
}

export interface CostRecordsTable {
  id: Generated<number>
  event_id: string | null
  client_id: string
  agent_id: string | null
  instance_id: string | null
  pool_id: string | null
  mode: Generated<Mode>
  period_start: NullableDateTime
  period_end: NullableDateTime
  record_date: DateOnly
  hours: Generated<Decimal>
  spot_price: Decimal | null
  ondemand_price: Decimal | null
  actual_cost: Generated<Decimal>
  baseline_cost: Generated<Decimal>
  savings: Generated<Decimal>
  created_at: DefaultedDateTime
}

export interface ReplicaInstancesTable {
  id: string
  agent_id: string
  client_id: string | null
  instance_id: string | null
  replica_type: ReplicaType
  pool_id: string
  instance_type: string | null
  region: string | null
  az: string | null
  status: Generated<ReplicaStatus>
  sync_status: Generated<SyncStatus>
  sync_latency_ms: number | null
  state_transfer_progress: Generated<Decimal>
  hourly_cost: Decimal | null
  total_cost: Generated<Decimal>
  created_by: Generated<string>
  parent_instance_id: string | null
  error_message: string | null
  termination_reason: string | null
  /** agent_id while the replica is live: the one-live-replica-per-agent unique key. */
  live_agent_id: Stored<string>
  created_at: DefaultedDateTime
  ready_at: NullableDateTime
  promoted_at: NullableDateTime
  terminated_at: NullableDateTime
  updated_at: DefaultedDateTime
}

export interface PricingSnapshotsCleanTable {
  id: Generated<number>
  event_id: string | null
  pool_id: string
  instance_type: string
  region: string
  az: string
  spot_price: Decimal
  ondemand_price: Decimal | null
  time_bucket: DateTime
  observed_at: DateTime
  source_type: Generated<string>
  created_at: DefaultedDateTime
}

/** Hour and day price buckets per pool for the price-history chart (019), kept by the price-history projection. */
export interface PricingBucketsTable {
  pool_id: string
  granularity: 'hour' | 'day'
  bucket_start: DateTime
  samples: Generated<number>
  spot_sum: Generated<Decimal>
  ondemand_samples: Generated<number>
  ondemand_sum: Generated<Decimal>
}

export interface SpotInterruptionEventsTable {
  id: Generated<number>
  event_id: string | null
  client_id: string
  agent_id: string
  instance_id: string | null
  pool_id: string | null
  signal_type: SignalType
  detected_at: DateTime
  termination_time: NullableDateTime
  response_action: string | null
  replica_id: string | null
  response_time_ms: number | null
  failover_time_ms: number | null
  success: number | null
  error_message: string | null
  created_at: DefaultedDateTime
  /** Signal occurredAt minus the service's receive time, ms (010). */
  clock_skew_ms: NullableBigInteger
}

export interface ClientSavingsDailyTable {
  client_id: string
  date: DateOnly
  baseline_cost: Generated<Decimal>
  actual_cost: Generated<Decimal>
  savings: Generated<Decimal>
  savings_percentage: Stored<Decimal>
  instance_hours: Generated<Decimal>
  switch_count: Generated<number>
  interruption_count: Generated<number>
  failover_count: Generated<number>
}

export interface PoolReliabilityMetricsTable {
  pool_id: string
  bucket_start: DateTime
  interruption_count: Generated<number>
  rebalance_count: Generated<number>
  termination_count: Generated<number>
  instance_hours_observed: Generated<Decimal>
  instance_hours_interrupted: Generated<Decimal>
  price_samples: Generated<number>
  price_sum: Generated<Decimal>
  price_sq_sum: Generated<Decimal>
  price_min: Decimal | null
  price_max: Decimal | null
  price_avg: Stored<Decimal>
  price_volatility: Stored<Decimal>
  reliability_score: Stored<Decimal>
}

/** An agent's price point (cost accrual): what the event carried (NULL = not) and what was in effect from it on. */
export interface CostPricePointsTable {
  agent_id: string
  at: DateTime
  event_id: string
  client_id: string
  kind: 'registered' | 'heartbeat' | 'switch' | 'failover' | 'promotion'
  instance_id: string | null
  pool_id: string | null
  mode: Mode | null
  spot_price: Decimal | null
  ondemand_price: Decimal | null
  is_full: Stored<number>
  eff_instance_id: string | null
  eff_pool_id: string | null
  eff_mode: Generated<Mode>
  eff_spot_price: Decimal | null
  eff_ondemand_price: Decimal | null
}

export interface InstanceMetricsTable {
  id: Generated<number>
  event_id: string | null
  client_id: string | null
  agent_id: string | null
  instance_id: string
  cpu: Decimal | null
  memory: Decimal | null
  network_in: NullableBigInteger
  network_out: NullableBigInteger
  disk_io: NullableBigInteger
  recorded_at: DateTime
  created_at: DefaultedDateTime
}

export interface EventLogTable {
  seq: Generated<number>
  event_id: string
  type: string
  version: number
  client_id: string | null
  agent_id: string | null
  occurred_at: DateTime
  /** the event as JSON less the envelope its columns hold (older rows: the whole event); storedEventOfRow reads both */
  payload: string
  /** kafka | http | decision */
  source: string
  cause_event_id: string | null
  topic: string | null
  partition_no: number | null
  offset_no: NullableBigInteger
  recorded_at: DefaultedDateTime
}

export interface ConsumerCheckpointsTable {
  topic: string
  partition_no: number
  /** the last applied offset */
  offset_no: BigInteger
  updated_at: DefaultedDateTime
}

export interface DeadLetterEventsTable {
  id: Generated<number>
  topic: string | null
  partition_no: number | null
  offset_no: NullableBigInteger
  message_key: Buffer | null
  raw_value: Buffer | null
  event_id: string | null
  event_type: string | null
  reason: string
  created_at: DefaultedDateTime
  published_at: NullableDateTime
  /** when the broker or the producer's size limit refused it on <topic>.dlq; not retried */
  publish_refused_at: NullableDateTime
  publish_error: string | null
  redrive_count: Generated<number>
  last_redriven_at: NullableDateTime
  /** when a re-drive applied it; NULL while parked */
  resolved_at: NullableDateTime
}

export interface OutboxTable {
  id: Generated<number>
  command_id: string
  type: string
  client_id: string | null
  agent_id: string
  /** the command as JSON */
  payload: string
  cause_event_id: string | null
  created_at: DefaultedDateTime
  sent_at: NullableDateTime
  attempts: Generated<number>
}

/** One rebuild of the projections into a shadow database (src/replay/), its checkpoint. */
export interface ReplayRebuildsTable {
  id: Generated<number>
  source: string
  shadow_database: string
  status: Generated<'running' | 'swapped'>
  /** highest event_log seq applied to the shadow tables */
  position: Generated<number>
  /** JSON [[seq, first seen ms], ...]: seqs below position not read yet */
  pending_gaps: string
  events_applied: Generated<number>
  started_at: DefaultedDateTime
  updated_at: DefaultedDateTime
  finished_at: NullableDateTime
}

/** The one row applying transactions share-lock and the replay swap locks exclusively. */
export interface ReplayGateTable {
  id: number
}

export type ActiveReplicasView = View<{
  replica_id: string
  agent_id: string
  client_id: string
  primary_instance_id: string | null
  replica_instance_id: string | null
  replica_type: ReplicaType
  pool_id: string
  status: ReplicaStatus
  sync_status: SyncStatus
  sync_latency_ms: number | null
  state_transfer_progress: Decimal
  hourly_cost: Decimal | null
  created_at: string
  ready_at: string | null
}>

/** Sums over the last 30 days of pool_reliability_metrics (and the last 7 in the _7d columns), one row per pool. */
export type PoolReliabilityRankingView = View<{
  pool_id: string
  interruptions_7d: Decimal | null
  terminations_7d: Decimal | null
  rebalances_7d: Decimal | null
  avg_spot_price: Decimal | null
  avg_reliability_score: Decimal | null
  instance_hours_7d: Decimal | null
  interruptions_30d: Decimal | null
  terminations_30d: Decimal | null
  rebalances_30d: Decimal | null
  instance_hours_30d: Decimal | null
  instance_hours_interrupted_30d: Decimal | null
}>

/** Events of an agent that has not registered yet (010): applied when its registration arrives. */
export interface AgentParkedEventsTable {
  event_id: string
  agent_id: string
  client_id: string
  type: string
  occurred_at: DateTime
  payload: string
  parked_at: DefaultedDateTime
}

/** One lock row per agent id seen (010): serialises parking and registration before an agents row exists. */
export interface AgentLocksTable {
  agent_id: string
}

export interface ReadVersionsTable {
  scope: string
  slot: number
  version: Generated<number>
}

export interface Database {
  schema_migrations: SchemaMigrationsTable
  migration_repairs: MigrationRepairsTable
  clients: ClientsTable
  agents: AgentsTable
  spot_pools: SpotPoolsTable
  instances: InstancesTable
  instance_switches: InstanceSwitchesTable
  cost_records: CostRecordsTable
  replica_instances: ReplicaInstancesTable
  pricing_snapshots_clean: PricingSnapshotsCleanTable
  pricing_buckets: PricingBucketsTable
  spot_interruption_events: SpotInterruptionEventsTable
  client_savings_daily: ClientSavingsDailyTable
  pool_reliability_metrics: PoolReliabilityMetricsTable
  instance_metrics: InstanceMetricsTable
  cost_price_points: CostPricePointsTable
  event_log: EventLogTable
  consumer_checkpoints: ConsumerCheckpointsTable
  dead_letter_events: DeadLetterEventsTable
  outbox: OutboxTable
  agent_parked_events: AgentParkedEventsTable
  agent_locks: AgentLocksTable
  replay_rebuilds: ReplayRebuildsTable
  replay_gate: ReplayGateTable
  notifications: NotificationsTable
  notification_reads: NotificationReadsTable
  read_versions: ReadVersionsTable
  v_active_replicas: ActiveReplicasView
  v_pool_reliability_ranking: PoolReliabilityRankingView
}

export type NotificationRow = Selectable<NotificationsTable>
export type NewNotification = Insertable<NotificationsTable>
export type SchemaMigrationRow = Selectable<SchemaMigrationsTable>
export type NewSchemaMigration = Insertable<SchemaMigrationsTable>
export type SchemaMigrationUpdate = Updateable<SchemaMigrationsTable>
export type MigrationRepairRow = Selectable<MigrationRepairsTable>
export type ClientRow = Selectable<ClientsTable>
export type NewClient = Insertable<ClientsTable>
export type ClientUpdate = Updateable<ClientsTable>
export type AgentRow = Selectable<AgentsTable>
export type NewAgent = Insertable<AgentsTable>
export type AgentUpdate = Updateable<AgentsTable>
export type SpotPoolRow = Selectable<SpotPoolsTable>
export type NewSpotPool = Insertable<SpotPoolsTable>
export type SpotPoolUpdate = Updateable<SpotPoolsTable>
export type InstanceRow = Selectable<InstancesTable>
export type NewInstance = Insertable<InstancesTable>
export type InstanceUpdate = Updateable<InstancesTable>
export type InstanceSwitchRow = Selectable<InstanceSwitchesTable>
export type NewInstanceSwitch = Insertable<InstanceSwitchesTable>
export type InstanceSwitchUpdate = Updateable<InstanceSwitchesTable>
export type CostRecordRow = Selectable<CostRecordsTable>
export type NewCostRecord = Insertable<CostRecordsTable>
export type CostRecordUpdate = Updateable<CostRecordsTable>
export type ReplicaInstanceRow = Selectable<ReplicaInstancesTable>
export type NewReplicaInstance = Insertable<ReplicaInstancesTable>
export type ReplicaInstanceUpdate = Updateable<ReplicaInstancesTable>
export type PricingSnapshotRow = Selectable<PricingSnapshotsCleanTable>
export type NewPricingSnapshot = Insertable<PricingSnapshotsCleanTable>
export type PricingSnapshotUpdate = Updateable<PricingSnapshotsCleanTable>
export type SpotInterruptionEventRow = Selectable<SpotInterruptionEventsTable>
export type NewSpotInterruptionEvent = Insertable<SpotInterruptionEventsTable>
export type SpotInterruptionEventUpdate = Updateable<SpotInterruptionEventsTable>
export type ClientSavingsDailyRow = Selectable<ClientSavingsDailyTable>
export type NewClientSavingsDaily = Insertable<ClientSavingsDailyTable>
export type ClientSavingsDailyUpdate = Updateable<ClientSavingsDailyTable>
export type PoolReliabilityMetricRow = Selectable<PoolReliabilityMetricsTable>
export type NewPoolReliabilityMetric = Insertable<PoolReliabilityMetricsTable>
export type PoolReliabilityMetricUpdate = Updateable<PoolReliabilityMetricsTable>
export type CostPricePointRow = Selectable<CostPricePointsTable>
export type NewCostPricePoint = Insertable<CostPricePointsTable>
export type InstanceMetricRow = Selectable<InstanceMetricsTable>
export type NewInstanceMetric = Insertable<InstanceMetricsTable>
export type InstanceMetricUpdate = Updateable<InstanceMetricsTable>
export type EventLogRow = Selectable<EventLogTable>
export type NewEventLog = Insertable<EventLogTable>
export type EventLogUpdate = Updateable<EventLogTable>
export type ConsumerCheckpointRow = Selectable<ConsumerCheckpointsTable>
export type NewConsumerCheckpoint = Insertable<ConsumerCheckpointsTable>
export type ConsumerCheckpointUpdate = Updateable<ConsumerCheckpointsTable>
export type DeadLetterEventRow = Selectable<DeadLetterEventsTable>
export type NewDeadLetterEvent = Insertable<DeadLetterEventsTable>
export type DeadLetterEventUpdate = Updateable<DeadLetterEventsTable>
export type OutboxRow = Selectable<OutboxTable>
export type NewOutbox = Insertable<OutboxTable>
export type OutboxUpdate = Updateable<OutboxTable>
export type AgentParkedEventRow = Selectable<AgentParkedEventsTable>
export type NewAgentParkedEvent = Insertable<AgentParkedEventsTable>
export type ActiveReplicaRow = Selectable<ActiveReplicasView>
export type PoolReliabilityRankingRow = Selectable<PoolReliabilityRankingView>

/**
 * Every table's and view's columns in database order. `satisfies` rejects a
 * name the interfaces lack; AllColumnsListed below rejects a column missing.
 */
export const DATABASE_COLUMNS = {
  schema_migrations: ['version', 'description', 'applied_at'],
  migration_repairs: ['id', 'migration', 'repair', 'description', 'row_count', 'detail', 'applied_at'],
  clients: ['id', 'name', 'email', 'client_token', 'token_hash', 'is_active', 'total_savings', 'created_at', 'updated_at'],
  agents: ['id', 'client_id', 'logical_agent_id', 'instance_id', 'instance_type', 'region', 'az', 'current_pool_id',
    'current_mode', 'hostname', 'status', 'spot_price', 'ondemand_price', 'auto_switch_enabled', 'auto_terminate_enabled',
    'terminate_wait_minutes', 'manual_replica_enabled', 'current_replica_id', 'last_interruption_signal',
    'last_failover_at', 'interruption_handled_count', 'last_heartbeat_at', 'created_at', 'updated_at', 'instance_at',
    'former_instance_ids', 'enabled', 'manual_replica_pending', 'price_at'],
  spot_pools: ['id', 'instance_type', 'region', 'az', 'is_active', 'created_at'],
  instances: ['id', 'client_id', 'agent_id', 'instance_type', 'region', 'az', 'pool_id', 'current_mode', 'is_active',
    'spot_price', 'ondemand_price', 'installed_at', 'terminated_at', 'created_at'],
  instance_switches: ['id', 'event_id', 'client_id', 'agent_id', 'old_instance_id', 'new_instance_id', 'old_pool_id',
    'new_pool_id', 'old_mode', 'new_mode', 'on_demand_price', 'old_spot_price', 'new_spot_price', 'event_trigger',
    'reason', 'savings_impact', 'switched_at'],
  cost_records: ['id', 'event_id', 'client_id', 'agent_id', 'instance_id', 'pool_id', 'mode', 'period_start',
    'period_end', 'record_date', 'hours', 'spot_price', 'ondemand_price', 'actual_cost', 'baseline_cost', 'savings',
    'created_at'],
  replica_instances: ['id', 'agent_id', 'client_id', 'instance_id', 'replica_type', 'pool_id', 'instance_type', 'region',
    'az', 'status', 'sync_status', 'sync_latency_ms', 'state_transfer_progress', 'hourly_cost', 'total_cost',
    'created_by', 'parent_instance_id', 'error_message', 'termination_reason', 'live_agent_id', 'created_at',
    'ready_at', 'promoted_at', 'terminated_at', 'updated_at'],
  pricing_snapshots_clean: ['id', 'event_id', 'pool_id', 'instance_type', 'region', 'az', 'spot_price',
    'ondemand_price', 'time_bucket', 'observed_at', 'source_type', 'created_at'],
  pricing_buckets: ['pool_id', 'granularity', 'bucket_start', 'samples', 'spot_sum', 'ondemand_samples', 'ondemand_sum'],
  spot_interruption_events: ['id', 'event_id', 'client_id', 'agent_id', 'instance_id', 'pool_id', 'signal_type',
    'detected_at', 'termination_time', 'response_action', 'replica_id', 'response_time_ms', 'failover_time_ms',
    'success', 'error_message', 'created_at', 'clock_skew_ms'],
  client_savings_daily: ['client_id', 'date', 'baseline_cost', 'actual_cost', 'savings', 'savings_percentage',
    'instance_hours', 'switch_count', 'interruption_count', 'failover_count'],
  pool_reliability_metrics: ['pool_id', 'bucket_start', 'interruption_count', 'rebalance_count', 'termination_count',
    'instance_hours_observed', 'instance_hours_interrupted', 'price_samples', 'price_sum', 'price_sq_sum', 'price_min',
    'price_max', 'price_avg', 'price_volatility', 'reliability_score'],
  cost_price_points: ['agent_id', 'at', 'event_id', 'client_id', 'kind', 'instance_id', 'pool_id', 'mode', 'spot_price',
    'ondemand_price', 'is_full', 'eff_instance_id', 'eff_pool_id', 'eff_mode', 'eff_spot_price', 'eff_ondemand_price'],
  instance_metrics: ['id', 'event_id', 'client_id', 'agent_id', 'instance_id', 'cpu', 'memory', 'network_in',
    'network_out', 'disk_io', 'recorded_at', 'created_at'],
  event_log: ['seq', 'event_id', 'type', 'version', 'client_id', 'agent_id', 'occurred_at', 'payload', 'source',
    'cause_event_id', 'topic', 'partition_no', 'offset_no', 'recorded_at'],
  consumer_checkpoints: ['topic', 'partition_no', 'offset_no', 'updated_at'],
  dead_letter_events: ['id', 'topic', 'partition_no', 'offset_no', 'message_key', 'raw_value', 'event_id', 'event_type',
    'reason', 'created_at', 'published_at', 'publish_refused_at', 'publish_error', 'redrive_count', 'last_redriven_at', 'resolved_at'],
  outbox: ['id', 'command_id', 'type', 'client_id', 'agent_id', 'payload', 'cause_event_id', 'created_at', 'sent_at',
    'attempts'],
  agent_parked_events: ['event_id', 'agent_id', 'client_id', 'type', 'occurred_at', 'payload', 'parked_at'],
  agent_locks: ['agent_id'],
  replay_rebuilds: ['id', 'source', 'shadow_database', 'status', 'position', 'pending_gaps', 'events_applied', 'started_at',
    'updated_at', 'finished_at'],
  replay_gate: ['id'],
  notifications: ['id', 'client_id', 'agent_id', 'kind', 'severity', 'message', 'occurred_at'],
  notification_reads: ['id', 'read_at'],
  read_versions: ['scope', 'slot', 'version'],
  v_active_replicas: ['replica_id', 'agent_id', 'client_id', 'primary_instance_id', 'replica_instance_id', 'replica_type',
    'pool_id', 'status', 'sync_status', 'sync_latency_ms', 'state_transfer_progress', 'hourly_cost', 'created_at',
    'ready_at'],
  v_pool_reliability_ranking: ['pool_id', 'interruptions_7d', 'terminations_7d', 'rebalances_7d', 'avg_spot_price',
    'avg_reliability_score', 'instance_hours_7d', 'interruptions_30d', 'terminations_30d', 'rebalances_30d',
    'instance_hours_30d', 'instance_hours_interrupted_30d'],
} as const satisfies { [T in keyof Database]: readonly (keyof Database[T])[] }

export const VIEWS = ['v_active_replicas', 'v_pool_reliability_ranking'] as const satisfies readonly (keyof Database)[]

/** Columns of an interface that DATABASE_COLUMNS does not list, per table; must be never. */
type UnlistedColumns = {
  [T in keyof Database]: Exclude<keyof Database[T], (typeof DATABASE_COLUMNS)[T][number]>
}[keyof Database]
// A compile error here names the columns missing from DATABASE_COLUMNS.
const allColumnsListed: [UnlistedColumns] extends [never] ? true : { unlisted: UnlistedColumns } = true
void allColumnsListed
