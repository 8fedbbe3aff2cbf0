/**
 * The simulated fleet's price history through the real broker and consumer:
 * at start it publishes hourly pricing snapshots of every pool for the days
 * asked (the dashboard's 7-day chart has lines from the first minute), and a
 * restarted fleet publishes the same events again (ids derived from client,
 * pool and hour), which the log ignores: no hour is stored twice.
 */
import { sql } from 'kysely'
import t from 'tap'
import { createClient } from '../src/clients/client.repository.js'
import { toDbTime } from '../src/db/time.js'
import { POOLS, runFleet } from '../src/fleet.js'
import { createIngestConsumer } from '../src/ingest/consumer.js'
import { pipeline } from '../src/wiring.js'
import { freshDatabase } from './helper-db.js'
import { kafkaFor, uniqueName, uniqueTopics, waitFor } from './helper-kafka.js'
import { inputTopics } from '../src/events/schemas.js'

const HOUR_MS = 3_600_000
const DAYS = 2

t.test('the fleet publishes its pools\' price history once, whatever the restarts', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topics = uniqueTopics()
  const consumer = createIngestConsumer({
    kafka, db, groupId: uniqueName('g'), pipeline: pipeline(), sessionTimeoutMs: 6_000,
    topics: inputTopics(topics),
  })
  t.teardown(() => consumer.stop())
  const client = await createClient(db, 'price history')
  const thisHour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS
  // The hours before the first start's current one: every later start covers them too.
  const past = async () => (await sql<{ pool_id: string, n: number, first: string, distinct_hours: number }>`
    SELECT pool_id, COUNT(*) AS n, MIN(observed_at) AS first, COUNT(DISTINCT observed_at) AS distinct_hours FROM pricing_snapshots_clean
    WHERE observed_at >= ${toDbTime(new Date(thisHour - DAYS * 24 * HOUR_MS))} AND observed_at < ${toDbTime(new Date(thisHour))}
    GROUP BY pool_id ORDER BY pool_id`.execute(db)).rows.map((r) => ({ ...r, n: Number(r.n), distinct_hours: Number(r.distinct_hours) }))
  const rates = { heartbeatMs: 60_000, pricingMs: 60_000, rebalancesPerAgentHour: 0, terminationsPerAgentHour: 0, firstInterruptionMs: 0, priceHistoryDays: DAYS }
  const [, first] = await Promise.all([consumer.start(), runFleet({ kafka, topics, clientId: client.id, agents: 1, rates })])

  const hours = DAYS * 24
  const once = await waitFor('the history applied', async () => {
    const rows = await past()
    if (rows.length !== POOLS.length || rows.some((r) => r.n !== hours)) throw new Error(`${rows.reduce((n, r) => n + r.n, 0)} snapshots so far`)
    return rows
  }, 60_000, 200)
  t.same(once.map((r) => r.pool_id), [...POOLS].sort(), 'every pool has a history')
  t.ok(once.every((r) => r.distinct_hours === hours), `${hours} hours each, one snapshot an hour`)
  t.ok(once.every((r) => r.first.startsWith(toDbTime(new Date(thisHour - hours * HOUR_MS)).slice(0, 13))), 'back to the first hour of the days asked')
  await first.stop()

  const second = await runFleet({ kafka, topics, clientId: client.id, agents: 1, rates })
  t.teardown(() => second.stop())
  // Its live snapshots (this hour) arrive after its history on the same partitions: once they are in, the history is too.
  await waitFor('the restarted fleet\'s live snapshots applied', async () => {
    const r = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM pricing_snapshots_clean WHERE observed_at >= ${toDbTime(new Date(thisHour))}`.execute(db)
    return Number(r.rows[0]?.n) >= 2 * POOLS.length
  }, 60_000, 200)
  t.same(await past(), once, 'the restart stored no hour twice')
})
