/**
 * Where a partition starts, checked against the broker before its first
 * batch of an assignment and whenever a batch does not follow the last
 * applied offset. Two things can be wrong with the stored checkpoint:
 *
 * - It is ahead of the partition's high watermark: the partition is not the
 *   one the checkpoint was taken on (a fresh local broker, a topic deleted
 *   and recreated, a cluster migrated) and would otherwise silently skip
 *   everything at or below it. It is started again from its beginning;
 *   event_id uniqueness makes the re-read harmless.
 * - The log starts past checkpoint + 1: retention deleted messages the
 *   service never saw. They are gone; the loss is logged and counted, and
 *   the checkpoint moves to just before the log start so it is counted once.
 *
 * Both updates are compare-and-set on the value read, so a concurrent owner
 * of the partition (a rebalance in flight) is never overwritten.
 */
import type { Admin, Logger } from 'kafkajs'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import type { Metrics } from '../metrics.js'

export interface PartitionOffsets {
  /** Log start offset: the oldest message the broker still has. */
  low: bigint
  /** High watermark: the offset the next message will get. */
  high: bigint
}

export interface StartCheck extends PartitionOffsets {
  /** The checkpoint after the check (-1: nothing applied). */
  checkpoint: bigint
  /** The stored checkpoint was ahead of the partition and was reset. */
  reset: boolean
  /** Messages retention deleted before the service saw them. */
  lost: bigint
}

async function storedCheckpoint(db: Kysely<Database>, topic: string, partition: number): Promise<bigint> {
  const row = await db.selectFrom('consumer_checkpoints').select('offset_no')
    .where('topic', '=', topic).where('partition_no', '=', partition).executeTakeFirst()
  return row ? BigInt(row.offset_no) : -1n
}

async function compareAndSet(db: Kysely<Database>, topic: string, partition: number, from: bigint, to: bigint): Promise<boolean> {
  const r = await db.updateTable('consumer_checkpoints').set({ offset_no: to.toString() })
    .where('topic', '=', topic).where('partition_no', '=', partition)
    .where('offset_no', '=', sql<number>`${from.toString()}`).executeTakeFirst()
  return r.numUpdatedRows > 0n
}

/** Reads the checkpoint, then the broker's offsets (in that order: a checkpoint is never ahead of offsets read after it). */
export async function checkPartitionStart(
  db: Kysely<Database>, topic: string, partition: number, offsets: () => Promise<PartitionOffsets>,
  log: Logger, metrics?: Metrics,
): Promise<StartCheck> {
  let checkpoint = await storedCheckpoint(db, topic, partition)
  const { low, high } = await offsets()
  const labels = { topic, partition: String(partition) }
  let reset = false
  if (checkpoint >= high) {
    log.warn('stored checkpoint is ahead of the partition: it is not the partition the checkpoint was taken on (a new broker, or the topic recreated); starting it again from its beginning', {
      topic, partition, checkpoint: checkpoint.toString(), highWatermark: high.toString(),
    })
    metrics?.checkpointResets.inc(labels)
    if (await compareAndSet(db, topic, partition, checkpoint, -1n)) checkpoint = -1n
    reset = true
  }
  let lost = 0n
  if (low > checkpoint + 1n) {
    lost = low - (checkpoint + 1n)
    log.warn(`retention deleted ${lost} messages the service never saw`, {
      topic, partition, lost: lost.toString(), from: (checkpoint + 1n).toString(), to: (low - 1n).toString(),
    })
    metrics?.messagesLost.inc(labels, Number(lost))
    if (await compareAndSet(db, topic, partition, checkpoint, low - 1n)) checkpoint = low - 1n
  }
  return { checkpoint, reset, lost, low, high }
}

/** The broker's offsets of one partition, through an admin client. */
export async function partitionOffsets(admin: Admin, topic: string, partition: number): Promise<PartitionOffsets> {
  const all = await admin.fetchTopicOffsets(topic)
  const p = all.find((o) => o.partition === partition)
  if (!p) throw new Error(`the broker reports no partition ${partition} of ${topic}`)
  return { low: BigInt(p.low), high: BigInt(p.high) }
}
