// What the columns hold, stated once. Every wire field's zod schema in
// fields.ts is built from one of these limits and registered under its name
// (`wireLimits`), and test/events/columns.test.ts checks each limit against
// information_schema of a freshly migrated database and each wire field
// against its limit: a field without a limit, a limit its columns do not
// match, or a schema that accepts more than its limit fails that test.
//
// What happens beyond a limit (README, "Events"):
// - identifiers, enums, numbers, prices out of range are refused: the message
//   is dead-lettered with the zod issue (Kafka) or answered 400 (HTTP); there
//   is no value the column could hold in their place;
// - free text (a termination reason, an error) is accepted and cut to the
//   column: refusing a `replica.terminated` for a long reason would leave the
//   replica live for good;
// - a price with more than 6 decimal places is rounded half-even to 6 (an
//   agent that prints a float sends 0.034999999999999996), see money.ts.
import { z } from 'zod'

/** `table.column` of the migrated database. */
export type ColumnRef = `${string}.${string}`

export type ColumnLimit =
  /** VARCHAR/CHAR(maxChars); longer is refused. */
  | { kind: 'string', maxChars: number, columns: readonly ColumnRef[] }
  /** Free text: accepted at any length and cut to maxChars characters (VARCHAR(maxChars), or TEXT that holds 4 bytes each). */
  | { kind: 'text', maxChars: number, columns: readonly ColumnRef[] }
  | { kind: 'uuid', columns: readonly ColumnRef[] }
  | { kind: 'enum', values: readonly string[], columns: readonly ColumnRef[] }
  /** INT/BIGINT; `whole: false` means a fraction is accepted and rounded on the way in. */
  | { kind: 'integer', min: number, max: number, whole: boolean, columns: readonly ColumnRef[] }
  /** DECIMAL(precision, scale) from a JSON number written out with toFixed(scale). */
  | { kind: 'number', min: number, max: number, scale: number, columns: readonly ColumnRef[] }
  /** Money: DECIMAL(precision, scale), non-negative, rounded half-even to scale (money.ts). */
  | { kind: 'money', precision: number, scale: number, columns: readonly ColumnRef[] }
  | { kind: 'boolean', columns: readonly ColumnRef[] }
  /** DATETIME(3) in UTC: up to 9999-12-31 once converted to UTC. */
  | { kind: 'datetime', columns: readonly ColumnRef[] }
  /** Reaches no column (a command's payload only): bounded so one bad value cannot bloat the log. */
  | { kind: 'payload', maxChars: number, columns: readonly [] }

export const INT_MAX = 2 ** 31 - 1

const each = (tables: readonly string[], column: string): ColumnRef[] => tables.map((t): ColumnRef => `${t}.${column}`)
const POOL_PARTS = ['agents', 'instances', 'spot_pools', 'replica_instances', 'pricing_snapshots_clean']

export const LIMITS = {
  uuid: {
    kind: 'uuid', columns: [
      'event_log.event_id', 'event_log.client_id', 'event_log.agent_id', 'agents.id', 'agents.client_id',
      'agents.current_replica_id', 'replica_instances.id', 'replica_instances.agent_id', 'replica_instances.client_id',
      'spot_interruption_events.event_id', 'spot_interruption_events.replica_id', 'instance_metrics.event_id',
      'instance_metrics.agent_id', 'instance_metrics.client_id', 'pricing_snapshots_clean.event_id',
      'instance_switches.event_id', 'dead_letter_events.event_id',
    ],
  },
  timestamp: {
    kind: 'datetime', columns: [
      'event_log.occurred_at', 'spot_interruption_events.detected_at', 'spot_interruption_events.termination_time',
      'pricing_snapshots_clean.observed_at', 'pricing_snapshots_clean.time_bucket', 'agents.last_heartbeat_at',
      'agents.last_interruption_signal', 'replica_instances.ready_at', 'replica_instances.terminated_at',
      'instance_switches.switched_at', 'instance_metrics.recorded_at',
    ],
  },
  instanceId: {
    kind: 'string', maxChars: 64, columns: [
      'agents.instance_id', 'instances.id', 'replica_instances.instance_id', 'replica_instances.parent_instance_id',
      'instance_switches.old_instance_id', 'instance_switches.new_instance_id', 'spot_interruption_events.instance_id',
      'instance_metrics.instance_id', 'cost_records.instance_id',
    ],
  },
  instanceType: { kind: 'string', maxChars: 64, columns: each(POOL_PARTS, 'instance_type') },
  region: { kind: 'string', maxChars: 32, columns: each(POOL_PARTS, 'region') },
  az: { kind: 'string', maxChars: 32, columns: each(POOL_PARTS, 'az') },
  poolId: {
    kind: 'string', maxChars: 128, columns: [
      'agents.current_pool_id', 'spot_pools.id', 'instances.pool_id', 'replica_instances.pool_id',
      'pricing_snapshots_clean.pool_id', 'spot_interruption_events.pool_id', 'instance_switches.old_pool_id',
      'instance_switches.new_pool_id', 'cost_records.pool_id', 'pool_reliability_metrics.pool_id',
    ],
  },
  logicalAgentId: { kind: 'string', maxChars: 255, columns: ['agents.logical_agent_id'] },
  hostname: { kind: 'string', maxChars: 255, columns: ['agents.hostname'] },
  agentStatus: { kind: 'string', maxChars: 32, columns: ['agents.status'] },
  sourceType: { kind: 'string', maxChars: 32, columns: ['pricing_snapshots_clean.source_type'] },
  // The trigger is stored twice: as the trigger and as the switch's reason.
  switchTrigger: { kind: 'string', maxChars: 64, columns: ['instance_switches.event_trigger', 'instance_switches.reason'] },
  terminationReason: { kind: 'text', maxChars: 255, columns: ['replica_instances.termination_reason'] },
  // TEXT holds more; 4096 characters is what an error is worth keeping in the log.
  replicaError: { kind: 'text', maxChars: 4096, columns: ['replica_instances.error_message'] },
  commandReason: { kind: 'payload', maxChars: 128, columns: [] },
  mode: {
    kind: 'enum', values: ['spot', 'on-demand'], columns: [
      'agents.current_mode', 'instances.current_mode', 'instance_switches.old_mode', 'instance_switches.new_mode',
      'cost_records.mode',
    ],
  },
  replicaType: { kind: 'enum', values: ['manual', 'automatic-rebalance', 'automatic-termination'], columns: ['replica_instances.replica_type'] },
  syncStatus: { kind: 'enum', values: ['initializing', 'syncing', 'synced', 'out-of-sync'], columns: ['replica_instances.sync_status'] },
  /** A forced switch's target (user.switch_requested, command.switch_instance): reaches no column. */
  switchTarget: { kind: 'enum', values: ['ondemand', 'pool'], columns: [] },
  money: {
    kind: 'money', precision: 12, scale: 6, columns: [
      'agents.spot_price', 'agents.ondemand_price', 'instances.spot_price', 'instances.ondemand_price',
      'replica_instances.hourly_cost', 'pricing_snapshots_clean.spot_price', 'pricing_snapshots_clean.ondemand_price',
      'instance_switches.on_demand_price', 'instance_switches.old_spot_price', 'instance_switches.new_spot_price',
      'cost_records.spot_price', 'cost_records.ondemand_price', 'pool_reliability_metrics.price_min',
      'pool_reliability_metrics.price_max',
    ],
  },
  percent: {
    kind: 'number', min: 0, max: 100, scale: 2,
    columns: ['instance_metrics.cpu', 'instance_metrics.memory', 'replica_instances.state_transfer_progress'],
  },
  latencyMs: { kind: 'integer', min: 0, max: INT_MAX, whole: true, columns: ['replica_instances.sync_latency_ms'] },
  // A day at most (DESIGN §3); the column could hold more.
  waitMinutes: { kind: 'integer', min: 0, max: 1440, whole: true, columns: ['agents.terminate_wait_minutes'] },
  // BIGINT holds 2^63 - 1, but a JSON number is exact only up to 2^53 - 1:
  // beyond it the value stored would not be the value sent.
  counter: {
    kind: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, whole: false,
    columns: ['instance_metrics.network_in', 'instance_metrics.network_out', 'instance_metrics.disk_io'],
  },
  flag: {
    kind: 'boolean',
    columns: ['agents.auto_switch_enabled', 'agents.manual_replica_enabled', 'agents.auto_terminate_enabled'],
  },
} as const satisfies Record<string, ColumnLimit>

export type LimitName = keyof typeof LIMITS

/** The limit each wire field schema was built from; the columns test walks the events through it. */
export const wireLimits = z.registry<{ limit: LimitName }>()

/** Registers `schema` as the wire form of `limit` (returns it, for chaining in a definition). */
export function limited<S extends z.ZodType>(schema: S, limit: LimitName): S {
  wireLimits.add(schema, { limit })
  return schema
}
