/**
 * `demo` (what `npm start` runs): migrate, create a demo client, serve, and
 * run the simulated fleet against it until SIGINT/SIGTERM.
 */
import { Kafka, logLevel } from 'kafkajs'
import { createClient } from './clients/client.repository.js'
import { type Config, topicsOf } from './config.js'
import { createDb, databaseName } from './db/connect.js'
import { ensureDatabase, migrateToLatest } from './db/migrate.js'
import { runFleet } from './fleet.js'
import { serve } from './server.js'

export async function demo(config: Config): Promise<void> {
  const server = createDb({ url: config.DATABASE_URL, database: '', connectionLimit: 1 })
  try { await ensureDatabase(server, databaseName(config.DATABASE_URL)) } finally { await server.destroy() }
  const db = createDb({ url: config.DATABASE_URL, connectionLimit: 2 })
  let client: { id: string, token: string }
  try {
    const { applied } = await migrateToLatest(db)
    console.log(applied.length ? `migrated: ${applied.join(', ')}` : 'schema up to date')
    client = await createClient(db, `demo ${new Date().toISOString()}`)
  } finally {
    await db.destroy()
  }

  const running = await serve(config, { signals: false })
  const kafka = new Kafka({ clientId: 'demo-fleet', brokers: [...config.KAFKA_BROKERS], logLevel: logLevel.NOTHING })
  const fleet = await runFleet({ kafka, topics: topicsOf(config), clientId: client.id, log: (m) => console.log(`fleet: ${m}`) })
  const base = `http://${config.HOST}:${running.port}`
  console.log(`
demo running. client ${client.id}
  curl ${base}/readyz
  curl -H 'Authorization: Bearer ${client.token}' ${base}/api/client/${client.id}/agents
  curl -H 'Authorization: Bearer ${client.token}' ${base}/api/client/${client.id}/replicas
  curl ${base}/metrics
Ctrl-C stops it.`)

  await new Promise<void>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolve())
  })
  await fleet.stop()
  await running.close()
}
