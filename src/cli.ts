/**
 * The `spotfleet` command line (DESIGN §7). Each subcommand reads its
 * configuration from the environment; any failure is one line on stderr and
 * a non-zero exit.
 */
import { parseArgs } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import { createClient } from './clients/client.repository.js'
import { ConfigError, DbConfigSchema, loadConfig, parseEnv, topicsOf } from './config.js'
import { inputTopics } from './events/schemas.js'
import { createDb, databaseName } from './db/connect.js'
import { ensureDatabase, MigrationError, migrateToLatest, migrationStatus } from './db/migrate.js'
import { formatRepairs } from './db/repairs.js'
import { formatReport, verifySchema } from './db/verify.js'
import { demo, ensureTopics, stopRequested } from './demo.js'
import { runFleet } from './fleet.js'
import { serve } from './server.js'
import { NotFreshError, rebuildFromKafka } from './ingest/rebuild-from-kafka.js'
import { ReplayBusyError, replayFromLog } from './replay/from-log.js'
import { progressFor } from './replay/progress.js'
import { PROJECTIONS, pipeline } from './wiring.js'
import { checkBroker, describeDatabaseError, StartupError } from './startup-checks.js'

const USAGE = `usage: spotfleet <command>
  migrate [up]              bring the database to the latest schema (creates the database if absent)
  migrate status            list migrations and when they ran
  migrate verify            check tables, columns, views, procedures, schema_migrations; exit 1 if incomplete
  client create --name N    create a client; prints its id and a new bearer token (only its hash is stored)
  serve                     consumer, outbox relay and HTTP API
  fleet --client-id ID [--agents N] [rates]   simulated agents of a client, producing to KAFKA_BROKERS until SIGINT/SIGTERM
  demo [--agents N] [rates] [--request-logs]  migrate, the demo client, serve and the simulated fleet
  (rates: --heartbeat-ms, --pricing-ms, --sync-step-ms, --rebalances-per-hour, --terminations-per-hour, --price-history-days, --first-interruption-ms)
  replay --from log         rebuild every projection from event_log into shadow tables and swap them in (serve may keep running)
  replay --from kafka       rebuild a fresh database from the topics' retained history through the same pipeline`

type Command = (args: string[]) => Promise<number>

function dbFromEnv() {
  const { DATABASE_URL } = parseEnv(DbConfigSchema)
  return { url: DATABASE_URL, db: createDb({ url: DATABASE_URL, connectionLimit: 2 }) }
}

/** Creates the configured database when it does not exist yet. */
async function ensureConfiguredDatabase(url: string): Promise<void> {
  const server = createDb({ url, database: '', connectionLimit: 1 })
  try { await ensureDatabase(server, databaseName(url)) } finally { await server.destroy() }
}

const migrate: Command = async ([sub = 'up']) => {
  const { url, db } = dbFromEnv()
  try {
    if (sub === 'up') {
      await ensureConfiguredDatabase(url)
      const started = performance.now()
      const { applied, repairs } = await migrateToLatest(db)
      const ms = (performance.now() - started).toFixed(0)
      console.log(applied.length ? `applied ${applied.join(', ')} in ${ms} ms` : `schema is up to date (${ms} ms)`)
      if (repairs.length > 0) {
        const rows = repairs.reduce((n, r) => n + r.rowCount, 0)
        console.log(`repaired legacy data (${repairs.length} repairs, ${rows} rows; \`migrate verify\` lists them again):\n${formatRepairs(repairs).join('\n')}`)
      }
      return 0
    }
    if (sub === 'status') {
      for (const m of await migrationStatus(db)) {
        console.log(`${m.name.padEnd(32)} ${m.executedAt ? m.executedAt.toISOString() : 'pending'}`)
      }
      return 0
    }
    if (sub === 'verify') {
      const report = await verifySchema(db)
      console.log(formatReport(report))
      return report.ok ? 0 : 1
    }
    console.error(`unknown migrate subcommand "${sub}"\n${USAGE}`)
    return 2
  } finally {
    await db.destroy()
  }
}

const client: Command = async ([sub, ...rest]) => {
  const { values } = parseArgs({ args: rest, options: { name: { type: 'string' }, email: { type: 'string' } } })
  if (sub !== 'create' || !values.name?.trim()) {
    console.error('usage: spotfleet client create --name NAME [--email EMAIL]')
    return 2
  }
  const { db } = dbFromEnv()
  try {
    const { id, token } = await createClient(db, values.name.trim(), values.email ?? null)
    console.log(`client_id: ${id}\ntoken:     ${token}\n(the token is shown once; only its hash is stored)`)
    return 0
  } finally {
    await db.destroy()
  }
}

const serveCommand: Command = async () => {
  const config = loadConfig()
  // The topics exist before the consumer subscribes: a topic created later is picked up only at the next metadata refresh (minutes).
  await checkBroker(config.KAFKA_BROKERS)
  await ensureTopics(new Kafka({ clientId: 'spotfleet-topics', brokers: [...config.KAFKA_BROKERS], logLevel: logLevel.NOTHING }), topicsOf(config))
  const running = await serve(config)
  await running.closed
  return 0
}

const FLEET_FLAGS = {
  agents: { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'pricing-ms': { type: 'string' },
  'sync-step-ms': { type: 'string' },
  'rebalances-per-hour': { type: 'string' },
  'terminations-per-hour': { type: 'string' },
  'price-history-days': { type: 'string' },
  'first-interruption-ms': { type: 'string' },
} as const
const FLEET_USAGE = '[--agents N] [--heartbeat-ms MS] [--pricing-ms MS] [--sync-step-ms MS] [--rebalances-per-hour R] [--terminations-per-hour R] [--price-history-days D] [--first-interruption-ms MS]'

/** The fleet's size and rates from flags; undefined when a value is not a positive number. */
function fleetFlags(values: Partial<Record<keyof typeof FLEET_FLAGS, string>>, defaultAgents: number) {
  const num = (v: string | undefined, int: boolean) => {
    if (v === undefined) return undefined
    const n = Number(v)
    return Number.isFinite(n) && n >= 0 && (!int || Number.isInteger(n)) ? n : NaN
  }
  const agents = num(values.agents, true) ?? defaultAgents
  const rates = {
    heartbeatMs: num(values['heartbeat-ms'], true), pricingMs: num(values['pricing-ms'], true), syncStepMs: num(values['sync-step-ms'], true),
    rebalancesPerAgentHour: num(values['rebalances-per-hour'], false), terminationsPerAgentHour: num(values['terminations-per-hour'], false),
    priceHistoryDays: num(values['price-history-days'], true), firstInterruptionMs: num(values['first-interruption-ms'], true),
  }
  const all = [agents, ...Object.values(rates)]
  if (all.some((n) => Number.isNaN(n)) || agents < 1 || [rates.heartbeatMs, rates.pricingMs, rates.syncStepMs].some((n) => n === 0)) return undefined
  return { agents, rates: Object.fromEntries(Object.entries(rates).filter(([, v]) => v !== undefined)) }
}

const demoCommand: Command = async (args) => {
  const { values } = parseArgs({ args, options: { ...FLEET_FLAGS, 'request-logs': { type: 'boolean', default: false } } })
  const fleet = fleetFlags(values, 50)
  if (!fleet) {
    console.error(`usage: spotfleet demo ${FLEET_USAGE} [--request-logs]`)
    return 2
  }
  await demo(loadConfig(), { ...fleet, requestLogs: values['request-logs'] })
  return 0
}

const fleetCommand: Command = async (args) => {
  const { values } = parseArgs({ args, options: { 'client-id': { type: 'string' }, ...FLEET_FLAGS } })
  const fleetOptions = fleetFlags(values, 50)
  if (!values['client-id'] || !/^[0-9a-f-]{36}$/i.test(values['client-id']) || !fleetOptions) {
    console.error(`usage: spotfleet fleet --client-id UUID ${FLEET_USAGE}`)
    return 2
  }
  const config = loadConfig()
  const stopping = stopRequested((m) => console.log(m))
  const kafka = new Kafka({ clientId: 'spotfleet-fleet', brokers: [...config.KAFKA_BROKERS], logLevel: logLevel.NOTHING })
  await checkBroker(config.KAFKA_BROKERS)
  await ensureTopics(kafka, topicsOf(config))
  const fleet = await runFleet({ kafka, topics: topicsOf(config), clientId: values['client-id'], ...fleetOptions, log: (m) => console.log(m) })
  console.log(`fleet running: ${fleetOptions.agents} agents of client ${values['client-id']}`)
  await stopping
  await fleet.stop()
  return 0
}

const replayCommand: Command = async (args) => {
  const { values } = parseArgs({ args, options: { from: { type: 'string' } } })
  if (values.from === 'log') {
    const { DATABASE_URL } = parseEnv(DbConfigSchema)
    const db = createDb({ url: DATABASE_URL, connectionLimit: 4 })
    try {
      const r = await replayFromLog(db, { projections: PROJECTIONS, progress: progressFor() })
      console.log(`rebuild ${r.rebuildId}${r.resumed ? ' (resumed)' : ''}: ${r.rows} log rows in ${r.seconds.toFixed(1)} s, swapped in ${r.tables.join(', ')}`)
      return 0
    } finally {
      await db.destroy()
    }
  }
  if (values.from === 'kafka') {
    const config = loadConfig()
    await ensureConfiguredDatabase(config.DATABASE_URL)
    const db = createDb({ url: config.DATABASE_URL, connectionLimit: 4 })
    try {
      await migrateToLatest(db)
      const kafka = new Kafka({ clientId: config.KAFKA_CLIENT_ID, brokers: [...config.KAFKA_BROKERS], logLevel: logLevel.WARN })
      const t = topicsOf(config)
      const r = await rebuildFromKafka({
        kafka, db, topics: inputTopics(t),
        pipeline: pipeline({ rebalancePolicy: config.REBALANCE_POLICY, recentInterruptionMinutes: config.POOL_RECENT_INTERRUPTION_MINUTES }),
        groupId: `${config.KAFKA_GROUP_ID}-rebuild-${Date.now()}`, progress: progressFor(),
      })
      console.log(`rebuilt from ${r.messages} retained messages in ${r.seconds.toFixed(1)} s`)
      return 0
    } finally {
      await db.destroy()
    }
  }
  console.error('usage: spotfleet replay --from log|kafka')
  return 2
}

const commands: Record<string, Command> = { migrate, client, serve: serveCommand, fleet: fleetCommand, demo: demoCommand, replay: replayCommand }

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv
  const command = name ? commands[name] : undefined
  if (!command) {
    console.error(USAGE)
    return name === undefined || name === 'help' || name === '--help' ? 0 : 2
  }
  try {
    return await command(args)
  } catch (err) {
    const known = err instanceof ConfigError || err instanceof MigrationError || err instanceof StartupError || err instanceof ReplayBusyError || err instanceof NotFreshError
    const line = known ? (err as Error).message : describeDatabaseError(err, process.env.DATABASE_URL ?? '')
    console.error(line ?? `spotfleet ${name}: ${(err as Error)?.stack ?? String(err)}`)
    return 1
  }
}
