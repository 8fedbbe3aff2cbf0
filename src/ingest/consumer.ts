/**
 * The kafkajs wiring of ingestion: a consumer group on the configured topics,
 * eachBatch with auto-commit off. Each partition batch is applied in chunks;
 * after a chunk's transaction commits, its offset is resolved and committed.
 * Failures pause the partition and retry with capped backoff while
 * heartbeating; nothing is committed past an unstored event. Only a refusal
 * of the data itself (retry.ts) is isolated to its message and dead-lettered.
 */
import type { Admin, Consumer, EachBatchPayload, Kafka, Logger } from 'kafkajs'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import type { Metrics } from '../metrics.js'
import { type ApplyResult, applyBatch, deadLetterRefused, type PartitionBatch } from '../log/apply-batch.js'
import type { Pipeline } from '../log/core.js'
import { readStatementBytes } from '../db/statement-bytes.js'
import { checkPartitionStart, partitionOffsets, type StartCheck } from './partition-start.js'
import { kafkajsTiming } from './consumer-settings.js'
import { assignedLag, type ConsumerStatus, STATUS_TIMEOUT_MS, within } from './lag.js'
import { type Backoff, backoffDelay, DEFAULT_BACKOFF, isRefusal, isTransient, sleep } from './retry.js'

export interface IngestOptions {
  kafka: Kafka
  db: Kysely<Database>
  groupId: string
  topics: readonly string[]
  /** The deciders and projections (src/wiring.ts). */
  pipeline: Pipeline
  metrics?: Metrics
  /** Messages per transaction. */
  chunkSize?: number
  backoff?: Backoff
  /** Called after each committed chunk (tests, the outbox relay's wake-up). */
  onApplied?: (result: ApplyResult, batch: PartitionBatch) => void
  fromBeginning?: boolean
  partitionsConsumedConcurrently?: number
  /** Session timeout, heartbeat interval, fetch wait (consumer-settings.ts has the defaults). */
  sessionTimeoutMs?: number
  heartbeatIntervalMs?: number
  maxWaitTimeMs?: number
}

export interface IngestConsumer {
  readonly consumer: Consumer
  start(): Promise<void>
  /** Finishes the current chunk, commits, leaves the group. */
  stop(): Promise<void>
  /** Joined its group and not crashed. */
  isReady(): boolean
  /** Its assignment and the lag of each assigned partition (also set on the lag gauge). */
  status(): Promise<ConsumerStatus>
}

class Stopped extends Error {}

export function createIngestConsumer(opts: IngestOptions): IngestConsumer {
  const { kafka, db, pipeline, metrics } = opts
  const chunkSize = opts.chunkSize ?? 500
  const backoff = opts.backoff ?? DEFAULT_BACKOFF
  const consumer = kafka.consumer({ groupId: opts.groupId, allowAutoTopicCreation: true, ...kafkajsTiming(opts) })
  const log: Logger = consumer.logger()
  /** The server's max_allowed_packet, read at start: statements are cut below it. */
  let maxStatementBytes: number | undefined
  let joined = false
  let admin: Admin | undefined
  /** Last offset applied per partition of this assignment; a batch that does not follow it is checked (partition-start.ts). */
  const positions = new Map<string, bigint>()
  /** topic → partitions of the last join; a partition that left keeps no lag series here. */
  let assignment: Record<string, number[]> = {}
  const assign = (a: Record<string, number[]>) => {
    assignment = a
    metrics?.lag.keepOnly((l) => (a[l.topic ?? ''] ?? []).includes(Number(l.partition)))
  }
  consumer.on(consumer.events.GROUP_JOIN, (e) => { joined = true; positions.clear(); assign({ ...e.payload.memberAssignment }) })
  consumer.on(consumer.events.CRASH, () => { joined = false; assign({}) })
  consumer.on(consumer.events.STOP, () => { joined = false; assign({}) })

  /** Applies a chunk; a message the database refuses outright is isolated by halving and dead-lettered. */
  async function applyIsolating(batch: PartitionBatch): Promise<void> {
    try {
      const r = await applyBatch(db, batch, pipeline, { maxStatementBytes })
      record(r, batch)
    } catch (err) {
      if (!isRefusal(err)) throw err
      if (batch.messages.length === 1) {
        log.error('database refused a message; dead-lettering it', { topic: batch.topic, partition: batch.partition, offset: batch.messages[0]!.offset, error: String(err) })
        await deadLetterRefused(db, batch.topic, batch.partition, batch.messages[0]!, (err as Error).message, maxStatementBytes)
        metrics?.deadLetters.inc({ topic: batch.topic })
        return
      }
      const mid = Math.ceil(batch.messages.length / 2)
      await applyIsolating({ ...batch, messages: batch.messages.slice(0, mid) })
      await applyIsolating({ ...batch, messages: batch.messages.slice(mid) })
    }
  }

  function record(r: ApplyResult, batch: PartitionBatch): void {
    if (metrics) {
      for (const e of r.applied) metrics.eventsConsumed.inc({ type: e.type })
      if (r.duplicates) metrics.duplicates.inc({}, r.duplicates)
      if (r.deadLettered) metrics.deadLetters.inc({ topic: batch.topic }, r.deadLettered)
      for (const { event: d } of r.produced) {
        if (d.type === 'decision.failover_executed') metrics.failovers.inc()
        if (d.type === 'decision.emergency_snapshot_requested') metrics.emergencySnapshots.inc()
        if (d.type === 'decision.signal_recorded') {
          metrics.decisions.inc({ action: d.data.responseAction })
          metrics.decisionSeconds.observe({}, d.data.responseTimeMs / 1000)
        }
      }
    }
    opts.onApplied?.(r, batch)
  }

  async function withRetry(p: EachBatchPayload, work: () => Promise<void>): Promise<void> {
    let resume: (() => void) | undefined
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await work()
        } catch (err) {
          resume ??= p.pause()
          metrics?.retries.inc()
          const wait = backoffDelay(attempt, backoff)
          const context = { topic: p.batch.topic, partition: p.batch.partition, attempt, waitMs: Math.round(wait), error: String(err) }
          if (isTransient(err)) log.warn('transient database failure; partition paused, retrying', context)
          else log.error('unexpected failure applying a batch; partition paused, retrying (nothing is skipped)', { ...context, stack: (err as Error)?.stack })
          const until = Date.now() + wait
          while (Date.now() < until) {
            if (!p.isRunning() || p.isStale()) throw new Stopped()
            await sleep(Math.min(500, until - Date.now()))
            await p.heartbeat()
          }
        }
      }
    } finally {
      resume?.()
    }
  }

  /**
   * Checks the stored checkpoint against the broker when a partition's batch
   * is its first of this assignment or does not follow the last applied
   * offset. False when the batch must not be applied: the partition was
   * sought back to the first message after the checkpoint.
   */
  async function startsWhereExpected(p: EachBatchPayload): Promise<boolean> {
    const { topic, partition, messages } = p.batch
    const key = `${topic}\u0000${partition}`
    const first = BigInt(messages[0]!.offset)
    const known = positions.get(key)
    if (known !== undefined && first <= known + 1n) return true
    let check: StartCheck | undefined
    await withRetry(p, async () => { check = await checkPartitionStart(db, topic, partition, () => partitionOffsets(admin!, topic, partition), log, metrics) })
    if (!check) return false
    positions.set(key, check.checkpoint)
    const next = check.checkpoint + 1n
    if (first > next && next >= check.low) {
      // The fetch position is past messages never applied (a reset partition whose Kafka offset survived).
      log.warn('fetch position is past the stored checkpoint; seeking back to it', { topic, partition, from: first.toString(), to: next.toString() })
      consumer.seek({ topic, partition, offset: next.toString() })
      return false
    }
    return true
  }

  async function eachBatch(p: EachBatchPayload): Promise<void> {
    const { topic, partition, messages } = p.batch
    if (messages.length === 0) return
    try {
      if (!(await startsWhereExpected(p))) return
    } catch (err) {
      if (err instanceof Stopped) return
      throw err
    }
    for (let i = 0; i < messages.length; i += chunkSize) {
      if (!p.isRunning() || p.isStale()) return
      const chunk: PartitionBatch = { topic, partition, messages: messages.slice(i, i + chunkSize) }
      const started = performance.now()
      try {
        await withRetry(p, () => applyIsolating(chunk))
      } catch (err) {
        if (err instanceof Stopped) return
        throw err
      }
      const last = chunk.messages.at(-1)!.offset
      positions.set(`${topic}\u0000${partition}`, BigInt(last))
      p.resolveOffset(last)
      // The batch's own commit, not consumer.commitOffsets: that one wraps a
      // commit refused during a rebalance (REBALANCE_IN_PROGRESS) in a
      // non-retriable error, and kafkajs then crashes the consumer for good
      // instead of rejoining. This one throws the broker's error as is, so
      // the runner rejoins; the stored checkpoint makes the lost commit a re-read.
      await p.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: (BigInt(last) + 1n).toString() }] }] })
      await p.heartbeat()
      if (metrics) {
        metrics.batches.inc()
        metrics.batchSeconds.inc({}, (performance.now() - started) / 1000)
        metrics.lag.set({ topic, partition: String(partition) }, Number(p.batch.offsetLag()))
      }
    }
  }

  return {
    consumer,
    async start() {
      maxStatementBytes = await readStatementBytes(db)
      admin = kafka.admin()
      await admin.connect()
      await consumer.connect()
      for (const topic of opts.topics) await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning ?? true })
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 2,
        eachBatch,
      })
    },
    async stop() {
      try {
        await consumer.disconnect()
      } finally {
        await admin?.disconnect()
      }
    },
    isReady: () => joined,
    async status() {
      const current = assignment
      const lag = admin ? await within(assignedLag(admin, db, current), STATUS_TIMEOUT_MS, null) : null
      if (metrics && lag && current === assignment) for (const l of lag) metrics.lag.set({ topic: l.topic, partition: String(l.partition) }, l.lag)
      return { assignment: current, lag }
    },
  }
}
