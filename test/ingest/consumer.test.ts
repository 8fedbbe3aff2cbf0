/**
 * Ingestion against the real broker and MariaDB: a mixed stream with
 * duplicates and garbage, a consumer killed mid-stream, a database that
 * vanishes during consumption, and two consumers of one group around a
 * rebalance. In every case each valid event is stored exactly once, garbage
 * is dead-lettered with its reason, and checkpoints end at the last offsets.
 */
import { spawn } from 'node:child_process'
import { sql, type Kysely } from 'kysely'
import type { Kafka } from 'kafkajs'
import t, { type Test } from 'tap'
import { createDb } from '../../src/db/connect.js'
import type { Database } from '../../src/db/database.js'
import { createIngestConsumer, type IngestConsumer } from '../../src/ingest/consumer.js'
import { ingestionHandlers } from '../../src/ingest/handlers.js'
import type { EventHandler } from '../../src/ingest/pipeline.js'
import { freshDatabase } from '../helper-db.js'
import { connectedProducer, kafkaFor, uniqueName, waitFor } from '../helper-kafka.js'
import { tcpProxy } from '../helper-proxy.js'
import { mixedStream, type Stream } from './fixtures/stream.js'

async function produce(t: Test, kafka: Kafka, topic: string, stream: Stream): Promise<void> {
  const producer = await connectedProducer(t, kafka)
  for (let i = 0; i < stream.messages.length; i += 200) {
    await producer.send({ topic, acks: -1, messages: stream.messages.slice(i, i + 200) })
  }
}

/** Last offset per partition, from the broker. */
async function highWatermarks(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]))
  } finally {
    await admin.disconnect()
  }
}

async function checkpoints(db: Kysely<Database>, topic: string): Promise<Map<number, bigint>> {
  const rows = await db.selectFrom('consumer_checkpoints').selectAll().where('topic', '=', topic).execute()
  return new Map(rows.map((r) => [r.partition_no, BigInt(r.offset_no)]))
}

/** True when every partition with messages has its checkpoint at its last offset. */
async function caughtUp(db: Kysely<Database>, kafka: Kafka, topic: string): Promise<boolean> {
  const [high, cp] = [await highWatermarks(kafka, topic), await checkpoints(db, topic)]
  return [...high].every(([p, h]) => h === 0n || cp.get(p) === h - 1n)
}

/** The tables ingestion writes, as comparable rows (ids and timestamps of writing left out). */
async function dump(db: Kysely<Database>) {
  return {
    events: (await sql<{ event_id: string, n: number }>`SELECT event_id, COUNT(*) AS n FROM event_log GROUP BY event_id ORDER BY event_id`.execute(db)).rows,
    pricing: (await sql`SELECT event_id, pool_id, spot_price, ondemand_price, time_bucket, observed_at FROM pricing_snapshots_clean ORDER BY event_id`.execute(db)).rows,
    metrics: (await sql`SELECT event_id, instance_id, cpu, memory, network_in, recorded_at FROM instance_metrics ORDER BY event_id`.execute(db)).rows,
    pools: (await sql`SELECT id, instance_type, az FROM spot_pools ORDER BY id`.execute(db)).rows,
    dead: (await sql`SELECT partition_no, offset_no, reason FROM dead_letter_events ORDER BY partition_no, offset_no`.execute(db)).rows,
  }
}

function consumerFor(t: Test, kafka: Kafka, db: Kysely<Database>, topic: string, groupId: string, handlers: EventHandler[] = ingestionHandlers(), chunkSize = 50): IngestConsumer {
  const c = createIngestConsumer({ kafka, db, groupId, topics: [topic], handlers, chunkSize, backoff: { initialMs: 50, maxMs: 500 } })
  t.teardown(() => c.stop())
  return c
}

t.test('a mixed stream: every valid event once, garbage dead-lettered with reasons, checkpoints at the last offsets', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topic = uniqueName('mixed')
  const stream = mixedStream(topic, 6, 30)
  await produce(t, kafka, topic, stream)

  const groupId = uniqueName('g')
  const c = consumerFor(t, kafka, db, topic, groupId)
  await c.start()
  await waitFor('consumer to catch up', () => caughtUp(db, kafka, topic))
  t.ok(c.isReady(), 'ready once joined')

  const d = await dump(db)
  t.equal(d.events.length, stream.unique.length, 'each unique valid event stored')
  t.ok(d.events.every((e) => Number(e.n) === 1), 'none twice')
  t.equal(d.pricing.length, stream.unique.filter((e) => e.type === 'pricing.snapshot').length)
  t.equal(d.metrics.length, stream.unique.filter((e) => e.type === 'instance.metrics').length)
  t.equal(d.dead.length, stream.garbage, 'every garbage message dead-lettered')
  const reasons = d.dead.map((r) => String((r as { reason: string }).reason))
  for (const re of [/^invalid JSON/, /^schema: .*eventId/, /^schema: .*cpu/, /unknown event type "spot.unknown_signal"/, /unsupported version 9/]) {
    t.ok(reasons.some((r) => re.test(r)), `a dead letter's reason matches ${re}`)
  }

  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  const high = await highWatermarks(kafka, topic)
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
  for (const p of committed!.partitions) {
    t.equal(BigInt(p.offset), high.get(p.partition), `partition ${p.partition}: committed offset is the high watermark`)
  }
})
