/**
 * What one consumer instance owns and how far behind it is: its assignment
 * (topic → partitions, from the last group join) and, per assigned
 * partition, the messages not yet applied: the broker's high watermark minus
 * the stored checkpoint (the truth, not Kafka's committed offset). Read on
 * demand by /readyz and by /metrics before each scrape.
 */
import type { Admin } from 'kafkajs'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'

export interface PartitionLag { topic: string, partition: number, lag: number }

export interface ConsumerStatus {
  /** topic → partitions this instance was assigned at its last join (empty when not in the group). */
  assignment: Record<string, number[]>
  /** Per assigned partition; null when the broker or the database did not answer in time. */
  lag: PartitionLag[] | null
}

/** How long a status read may take: a readiness probe must answer even when the broker does not. */
export const STATUS_TIMEOUT_MS = 2_000

export async function assignedLag(admin: Admin, db: Kysely<Database>, assignment: Record<string, number[]>): Promise<PartitionLag[]> {
  const topics = Object.keys(assignment).filter((t) => assignment[t]!.length > 0)
  if (topics.length === 0) return []
  const [offsets, stored] = await Promise.all([
    Promise.all(topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) }))),
    db.selectFrom('consumer_checkpoints').select(['topic', 'partition_no', 'offset_no']).where('topic', 'in', topics).execute(),
  ])
  const checkpoint = new Map(stored.map((r) => [`${r.topic}\u0000${r.partition_no}`, BigInt(r.offset_no)]))
  const out: PartitionLag[] = []
  for (const { topic, offsets: list } of offsets) {
    const byPartition = new Map(list.map((o) => [o.partition, o]))
    for (const partition of [...assignment[topic]!].sort((a, b) => a - b)) {
      const o = byPartition.get(partition)
      if (!o) continue
      const [high, low] = [BigInt(o.high), BigInt(o.low)]
      // The next offset to apply: after the checkpoint, never before what retention kept.
      const c = checkpoint.get(`${topic}\u0000${partition}`)
      const next = c === undefined ? low : c + 1n
      const start = next > low ? next : low
      out.push({ topic, partition, lag: Number(high > start ? high - start : 0n) })
    }
  }
  return out
}

/** Resolves to `fallback` if `p` takes longer than `ms` (or fails). */
export function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms)
    p.then((v) => { clearTimeout(timer); resolve(v) }, () => { clearTimeout(timer); resolve(fallback) })
  })
}
