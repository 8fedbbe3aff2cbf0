/**
 * Configuration, parsed once from the environment into a frozen object.
 * A missing or bad value stops the process with one line naming it.
 */
import { z } from 'zod'
import type { Topics } from './events/schemas.js'
import { CONSUMER_DEFAULTS } from './ingest/consumer-settings.js'

const csv = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))

/** What the database-only commands (migrate, client create) need. */
export const DbConfigSchema = z.object({
  DATABASE_URL: z.string().regex(/^mysql:\/\/[^/]+\/[^/?]+/, 'must look like mysql://user:pass@host:port/database'),
})

export const ConfigSchema = DbConfigSchema.extend({
  KAFKA_BROKERS: csv.pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'each broker must be host:port')).min(1, 'is empty: list the brokers as host:port, comma-separated')),
  KAFKA_CLIENT_ID: z.string().min(1).default('spotfleet'),
  KAFKA_GROUP_ID: z.string().min(1).default('spotfleet'),
  // Consumer group timing (README "Running at scale"): how long a crashed
  // member keeps its partitions, how often members say they are alive, and
  // how long a fetch waits for data (the idle produce→decision latency).
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(1000).max(300_000).default(CONSUMER_DEFAULTS.sessionTimeoutMs),
  KAFKA_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(CONSUMER_DEFAULTS.heartbeatIntervalMs),
  KAFKA_FETCH_MAX_WAIT_MS: z.coerce.number().int().min(10).max(30_000).default(CONSUMER_DEFAULTS.maxWaitTimeMs),
  // About how long a transaction of heartbeats and prices may take: what a termination notice waits for at most (consumer.ts).
  INGEST_TRANSACTION_MS: z.coerce.number().int().min(5).max(60_000).default(CONSUMER_DEFAULTS.transactionMs),
  // Transactions of this instance at once, each over its own partitions (consumer.ts).
  INGEST_APPLIERS: z.coerce.number().int().min(1).max(16).default(CONSUMER_DEFAULTS.appliers),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  OPERATOR_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  CORS_ORIGINS: csv.default([]),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
  TOPIC_SPOT_INTERRUPTIONS: z.string().min(1).default('spot-interruptions'),
  TOPIC_REPLICA_EVENTS: z.string().min(1).default('replica-events'),
  TOPIC_AGENT_EVENTS: z.string().min(1).default('agent-events'),
  TOPIC_PRICING_SNAPSHOTS: z.string().min(1).default('pricing-snapshots'),
  TOPIC_REPLICA_COMMANDS: z.string().min(1).default('replica-commands'),
  REBALANCE_POLICY: z.enum(['replica', 'ignore', 'failover']).default('replica'),
  POOL_RECENT_INTERRUPTION_MINUTES: z.coerce.number().int().min(0).default(10),
  // An agent silent this long is marked offline (a decision in the log), back online with its next heartbeat.
  AGENT_OFFLINE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(120),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).refine((c) => c.KAFKA_HEARTBEAT_INTERVAL_MS * 3 <= c.KAFKA_SESSION_TIMEOUT_MS, {
  // The broker drops a member that missed its session; kafkajs also refuses heartbeat >= session.
  path: ['KAFKA_HEARTBEAT_INTERVAL_MS'], message: 'must be at most a third of KAFKA_SESSION_TIMEOUT_MS',
})

export type Config = Readonly<z.infer<typeof ConfigSchema>>

export const LOCAL_SERVERS_HINT = 'for local servers: scripts/local-servers.sh start, then set -a; . .local/servers.env; set +a'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Parse `env` with `schema`; throws ConfigError with one line naming the first bad variable. */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): Readonly<z.infer<S>> {
  const r = schema.safeParse(env)
  if (!r.success) {
    const issue = r.error.issues[0]!
    const name = String(issue.path[0] ?? '?')
    const why = env[name] === undefined ? 'is not set' : issue.message
    // The servers' addresses are what a newcomer has not got yet: say where they come from.
    const hint = env[name] === undefined && (name === 'DATABASE_URL' || name === 'KAFKA_BROKERS')
      ? `; ${LOCAL_SERVERS_HINT}` : ''
    throw new ConfigError(`configuration: ${name} ${why}${hint}`)
  }
  return Object.freeze(r.data)
}

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => parseEnv(ConfigSchema, env)

/** The configured topic names, in the shape the event producer takes. */
export const topicsOf = (config: Config): Topics => ({
  spotInterruptions: config.TOPIC_SPOT_INTERRUPTIONS, replicaEvents: config.TOPIC_REPLICA_EVENTS, agentEvents: config.TOPIC_AGENT_EVENTS,
  pricingSnapshots: config.TOPIC_PRICING_SNAPSHOTS, replicaCommands: config.TOPIC_REPLICA_COMMANDS,
})
