/**
 * `spotfleet replay --from kafka`: rebuilds a fresh database from the topics'
 * retained history through the same pipeline as `serve` (recovery after the
 * database was lost, or a new deployment). A consumer of its own group reads
 * every input topic from the beginning until each partition's checkpoint
 * reaches the high watermark read at the start, then stops.
 *
 * The deciders decide again (there are no recorded decisions on the topics),
 * at the time of the rebuild; the commands they produce were answered long
 * ago, so they are marked sent instead of going to the agents again.
 */
import type { Kafka } from 'kafkajs'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import type { Pipeline } from '../log/core.js'
import { type Progress, silentProgress } from '../replay/progress.js'
import { createIngestConsumer } from './consumer.js'

export interface KafkaRebuildOptions {
  kafka: Kafka
  db: Kysely<Database>
  topics: readonly string[]
  pipeline: Pipeline
  groupId: string
  progress?: Progress
  pollMs?: number
}

export class NotFreshError extends Error {
  constructor() { super('replay --from kafka rebuilds a fresh database: event_log is not empty (use replay --from log to rebuild the projections of this one)') }
}

export async function rebuildFromKafka(opts: KafkaRebuildOptions): Promise<{ messages: number, seconds: number }> {
  const { kafka, db } = opts
  const started = performance.now()
  if (await db.selectFrom('event_log').select('seq').limit(1).executeTakeFirst()) throw new NotFreshError()
  const admin = kafka.admin()
  await admin.connect()
  const target = new Map<string, bigint>()
  let total = 0n
  try {
    for (const topic of opts.topics) {
      for (const p of await admin.fetchTopicOffsets(topic).catch(() => [])) {
        const high = BigInt(p.high)
        const low = BigInt(p.low)
        if (high > low) { target.set(`${topic}:${p.partition}`, high - 1n); total += high - low }
      }
    }
  } finally {
    await admin.disconnect()
  }
  const progress = opts.progress ?? silentProgress
  progress.start(Number(total), 0)
  const consumer = createIngestConsumer({ kafka, db, groupId: opts.groupId, topics: opts.topics, pipeline: opts.pipeline, fromBeginning: true })
  await consumer.start()
  try {
    for (;;) {
      const rows = await db.selectFrom('consumer_checkpoints').select(['topic', 'partition_no', 'offset_no']).execute()
      const at = new Map(rows.map((r) => [`${r.topic}:${r.partition_no}`, BigInt(r.offset_no)]))
      let behind = 0n
      for (const [k, last] of target) behind += last - (at.get(k) ?? -1n) > 0n ? last - (at.get(k) ?? -1n) : 0n
      progress.update(Number(total - behind), Number(total))
      if (behind === 0n) break
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500))
    }
  } finally {
    await consumer.stop()
    progress.stop()
  }
  await sql`UPDATE outbox SET sent_at = CURRENT_TIMESTAMP(3) WHERE sent_at IS NULL`.execute(db)
  return { messages: Number(total), seconds: (performance.now() - started) / 1000 }
}
