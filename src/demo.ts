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
import type { Topics } from './events/schemas.js'
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

/** Resolves on the first SIGINT/SIGTERM/SIGHUP or when the parent process is gone (we were re-parented). */
export function stopRequested(log: (m: string) => void): Promise<string> {
  return new Promise((resolve) => {
    let first: string | undefined
    const stop = (why: string) => {
      if (first !== undefined) return log(`${why}: already stopping`)
      first = why
      resolve(why)
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
  const db = createDb({ url: config.DATABASE_URL, connectionLimit: 2 })
  let client: { id: string, token: string, reused: boolean }
  try {
    const { applied } = await migrateToLatest(db)
    log(applied.length ? `migrated: ${applied.join(', ')}` : 'schema up to date')
    client = await demoClient(db)
  } finally {
    await db.destroy()
  }

  const topics = topicsOf(config)
  const kafka = new Kafka({ clientId: 'demo-fleet', brokers: [...config.KAFKA_BROKERS], logLevel: logLevel.NOTHING })
  await ensureTopics(kafka, topics)
  const running = await serve(config, { signals: false, requestLogs: o.requestLogs })
  const fleet = await runFleet({ kafka, topics, clientId: client.id, agents: o.agents, rates: o.rates, log: (m) => log(`fleet: ${m}`) })
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
  await fleet.stop().catch((err: unknown) => console.error(`demo: stopping the fleet failed: ${String(err)}`))
  await running.close()
  log('demo stopped')
}
