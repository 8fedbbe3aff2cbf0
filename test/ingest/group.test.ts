/**
 * Two consumers of one group: the stored checkpoint, locked in the applying
 * transaction, is what keeps an event from being applied twice when both
 * briefly own a partition around a rebalance. The probe handler below is
 * deliberately not idempotent, so a second application would show.
 */
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import type { Database } from '../../src/db/database.js'
import { EVENT_TYPES, type EventType } from '../../src/events/schemas.js'
import { applyBatch, type RawMessage } from '../../src/log/apply-batch.js'
import { pipeline } from '../../src/wiring.js'
import type { Pipeline } from '../../src/log/core.js'
import type { AnyProjection, Projection } from '../../src/log/projection.js'
import { createDb } from '../../src/db/connect.js'
import { freshDatabase } from '../helper-db.js'
import { kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { caughtUp, consumerFor, produce } from './fixtures/steps.js'
import { mixedStream } from './fixtures/stream.js'

/** Appends a row per application (no unique key) and dawdles to widen the race window. */
const probe: Projection<EventType> = {
  name: 'application-probe',
  handles: EVENT_TYPES,
  tables: [],
  async apply(trx, events) {
    await trx.insertInto('t_applications' as never).values(events.map((e) => ({ event_id: e.eventId })) as never).execute()
    await new Promise((r) => setTimeout(r, 20))
  },
}

async function withProbeTable(db: Kysely<Database>) {
  await sql`CREATE TABLE t_applications (id BIGINT AUTO_INCREMENT PRIMARY KEY, event_id CHAR(36) NOT NULL)`.execute(db)
}

async function applications(db: Kysely<Database>) {
  return (await sql<{ event_id: string, n: number }>`SELECT event_id, COUNT(*) AS n FROM t_applications GROUP BY event_id`.execute(db)).rows
}

t.test('two transactions racing on the same partition batch: one applies, the other skips', async (t) => {
  const { db, url, name } = await freshDatabase(t, { migrate: true })
  await withProbeTable(db)
  const other = createDb({ url, database: name, connectionLimit: 2 })
  t.teardown(() => other.destroy())
  const stream = mixedStream('race', 2, 20)
  const messages: RawMessage[] = stream.messages.map((m, i) => ({ offset: String(i), key: null, value: Buffer.from(String(m.value)) }))
  const batch = { topic: 'race', partition: 0, messages }
  const handlers: Pipeline = { ...pipeline(), projections: [probe, ...pipeline().projections] }
  const [a, b] = await Promise.all([applyBatch(db, batch, handlers), applyBatch(other, batch, handlers)])
  t.same([a.skipped, b.skipped].sort((x, y) => x - y), [0, messages.length], 'the second saw the checkpoint and skipped all')
  const rows = await applications(db)
  t.equal(rows.length, stream.unique.length)
  t.ok(rows.every((r) => Number(r.n) === 1), 'each event applied once')
})

t.test('scale-out and takeover in one group: every event applied once', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  await withProbeTable(db)
  const kafka = kafkaFor()
  const topic = uniqueName('group')
  const stream = mixedStream(topic, 12, 40)
  await produce(t, kafka, topic, stream)
  const groupId = uniqueName('g')
  const handlers: Pipeline = { ...pipeline(), projections: [probe, ...pipeline().projections] }

  const a = consumerFor(t, kafka, db, topic, groupId, handlers, 5)
  await a.start()
  await waitFor('a to make progress', async () => (await applications(db)).length > 30)
  const b = consumerFor(t, kafka, db, topic, groupId, handlers, 5)
  await b.start()
  await waitFor('b to join and take partitions', () => b.isReady(), 30_000)
  await waitFor('some more progress', async () => (await applications(db)).length > 150)
  await a.stop() // takeover: b gets every partition
  await waitFor('b to catch up alone', () => caughtUp(db, kafka, topic), 90_000)

  const rows = await applications(db)
  t.equal(rows.length, stream.unique.length, 'every valid event applied')
  t.same(rows.filter((r) => Number(r.n) !== 1), [], 'none applied twice')
})
