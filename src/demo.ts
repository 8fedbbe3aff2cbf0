/**
 * `demo` (what `npm start` runs): migrate, reuse (or create) the demo client
 * with a fresh token, create the topics, serve, and run the simulated fleet
 * until SIGINT/SIGTERM or until the process that started it dies.
 *
 * Stopping is the point of most of this file: a demo is started and stopped
 * by people, IDEs and docker, which send SIGINT to the whole terminal group,
 * SIGTERM to one process, or die without a word. Every signal after the
 * first is ignored (Ctrl-C under npm delivers two or three at once), and a
 * stop that hangs is cut short, so nothing outlives the demo.
 */
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import type { Kysely } from 'kysely'
import { createClient, hashToken } from './clients/client.repository.js'
import { type Config, topicsOf } from './config.js'
import { createDb, databaseName } from './db/connect.js'
import type { Database } from './db/database.js'
import { ensureDatabase, migrateToLatest } from './db/migrate.js'
import { checkPartitionStart, partitionOffsets } from './ingest/partition-start.js'
import { type Topics, inputTopics } from './events/schemas.js'
import { type FleetRates, runFleet } from './fleet.js'
import { serve } from './server.js'
import { checkBroker } from './startup-checks.js'

export const DEMO_CLIENT_NAME = 'demo'
const STOP_TIMEOUT_MS = 20_000

export interface DemoOptions {
  agents: number
  rates: Partial<FleetRates>
  /** Request logs in the console (off by default: they drown the demo's own lines). */
  requestLogs: boolean
}

/**
 * The demo client, created once and reused by every later start. Only a
 * token's hash is stored, so a restart cannot show the old token: it issues a
 * new one (the previous one stops working).
 */
export async function demoClient(db: Kysely<Database>): Promise<{ id: string, token: string, reused: boolean }> {
  const existing = await db.selectFrom('clients').select('id').where('name', '=', DEMO_CLIENT_NAME)
    .orderBy('created_at').orderBy('id').executeTakeFirst()
  if (existing === undefined) return { ...await createClient(db, DEMO_CLIENT_NAME), reused: false }
  const token = `sf_${randomBytes(32).toString('base64url')}`
  await db.updateTable('clients').set({ token_hash: hashToken(token), is_active: 1 }).where('id', '=', existing.id).execute()
  return { id: existing.id, token, reused: true }
}

/** Creates the topics (4 partitions) unless they exist, so nobody's first message depends on auto-creation. */
export async function ensureTopics(kafka: Kafka, topics: Topics): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const have = new Set(await admin.listTopics())
    const missing = Object.values(topics).filter((t) => !have.has(t))
    if (missing.length === 0) return
    // librdkafka's mock cluster (the local broker) names a controller it does
    // not have, so CreateTopics cannot be routed there; a metadata request
    // auto-creates the topics instead (with the broker's default partitions).
    const { brokers, controller } = await admin.describeCluster()
    if (brokers.some((b) => b.nodeId === controller)) {
      await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 4 })), waitForLeaders: true })
    } else {
      await admin.fetchTopicMetadata({ topics: missing })
    }
  } finally {
    await admin.disconnect()
  }
}

/** The topics serve consumes. */

/**
 * The local broker starts empty, so after a restart every stored checkpoint is
 * ahead of its partition. serve would reset each one with a warning per
 * partition (right for a service, where it means a new cluster or a recreated
 * topic); for the demo it is the normal case, so it resets them before serve
 * starts, through the same check, and returns how many (one line instead of a
 * warning per partition). Returns 0 on a broker that kept its partitions.
 */
export async function resetCheckpointsAhead(db: Kysely<Database>, kafka: Kafka, topics: readonly string[]): Promise<number> {
  const stored = await db.selectFrom('consumer_checkpoints').select(['topic', 'partition_no']).where('topic', 'in', [...topics]).execute()
  if (stored.length === 0) return 0
  const admin = kafka.admin()
  await admin.connect()
  try {
    let reset = 0
    for (const { topic, partition_no: partition } of stored) {
      // kafka's logger: the demo's Kafka logs nothing, the line above says it once.
      const check = await checkPartitionStart(db, topic, partition, () => partitionOffsets(admin, topic, partition), kafka.logger())
      if (check.reset) reset++
    }
    return reset
  } finally {
    await admin.disconnect()
  }
}

/** Resolves on the first SIGINT/SIGTERM/SIGHUP or when the parent process is gone (we were re-parented). */
export function stopRequested(log: (m: string) => void): Promise<string> {
  return new Promise((resolve) => {
    let first: string | undefined
    // Each later reason said once: Ctrl-C under npm delivers the same signal two or three times, and the parent
    // check would repeat every half second while the stop runs.
    const said = new Set<string>()
    const stop = (why: string) => {
      if (first === undefined) { first = why; said.add(why); return resolve(why) }
      if (!said.has(why)) { said.add(why); log(`${why}: already stopping`) }
    }
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => stop(s))
    const parent = process.ppid
    if (parent > 1) setInterval(() => { if (process.ppid !== parent) stop('parent process gone') }, 500).unref()
  })
}

export async function demo(given: Config, o: DemoOptions): Promise<void> {
  // The dashboard's dead-letter view needs an operator token; a demo makes one up unless given.
  const config: Config = { ...given, OPERATOR_TOKEN: given.OPERATOR_TOKEN ?? `op_${randomBytes(18).toString('base64url')}` }
  const log = (m: string) => console.log(m)
  const stopping = stopRequested(log)
  await checkBroker(config.KAFKA_BROKERS)
  const server = createDb({ url: config.DATABASE_URL, database: '', connectionLimit: 1 })
  try { await ensureDatabase(server, databaseName(config.DATABASE_URL)) } finally { await server.destroy() }
  const topics = topicsOf(config)
  const kafka = new Kafka({ clientId: 'demo-fleet', brokers: [...config.KAFKA_BROKERS], logLevel: logLevel.NOTHING })
  const db = createDb({ url: config.DATABASE_URL, connectionLimit: 2 })
  let client: { id: string, token: string, reused: boolean }
  try {
    const { applied } = await migrateToLatest(db)
    log(applied.length ? `migrated: ${applied.join(', ')}` : 'schema up to date')
    client = await demoClient(db)
    await ensureTopics(kafka, topics)
    const reset = await resetCheckpointsAhead(db, kafka, inputTopics(topics))
    if (reset > 0) {
      log(`the broker is new (a local one starts empty): ${reset} partitions' stored checkpoints were ahead of it, so those partitions are read from their beginning (harmless: events are unique by id)`)
    }
  } finally {
    await db.destroy()
  }

  // Side by side: each joins a consumer group of its own, and a new group's first join waits out the broker's
  // initial rebalance delay (3 s on the local broker). The fleet's registrations wait in Kafka for serve's consumer.
  const [served, started] = await Promise.allSettled([
    serve(config, { signals: false, requestLogs: o.requestLogs }),
    runFleet({ kafka, topics, clientId: client.id, agents: o.agents, rates: o.rates, log: (m) => log(`fleet: ${m}`) }),
  ])
  if (served.status === 'rejected') {
    if (started.status === 'fulfilled') await started.value.stop().catch(() => {})
    throw served.reason
  }
  if (started.status === 'rejected') {
    await served.value.close()
    throw started.reason
  }
  const running = served.value
  const fleet = started.value
  const base = `http://${config.HOST}:${running.port}`
  log(`
demo running: ${o.agents} simulated agents, client ${client.id} (${client.reused ? 'reused, new token' : 'new'})
  dashboard  ${base}/#client=${client.id}&token=${client.token}&operator=${config.OPERATOR_TOKEN}
  api        curl -H 'Authorization: Bearer ${client.token}' ${base}/api/client/${client.id}/agents
  health     curl ${base}/readyz    metrics: curl ${base}/metrics
Ctrl-C stops it.`)

  const why = await stopping
  log(`stopping (${why})`)
  setTimeout(() => { console.error(`demo: stopping took over ${STOP_TIMEOUT_MS / 1000} s; exiting`); process.exit(1) }, STOP_TIMEOUT_MS).unref()
  // Side by side: the fleet and serve share nothing but Kafka, and with the broker gone each waits out
  // kafkajs' retries up to its bound (the fleet 2 s, serve's consumer 2 s each for its commits and group leave).
  await Promise.all([fleet.stop().catch((err: unknown) => console.error(`demo: stopping the fleet failed: ${String(err)}`)), running.close()])
  log('demo stopped')
  // Everything it started is stopped; what kafkajs still retries against a broker that went away (its
  // reconnect timers) must not hold the process. A normal stop leaves nothing, and exits before this fires.
  setTimeout(() => process.exit(), 1_000).unref()
}
