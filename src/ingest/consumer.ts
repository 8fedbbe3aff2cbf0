/**
 * The kafkajs wiring of ingestion: a consumer group on the configured topics,
 * eachBatch with auto-commit off. eachBatch only hands its messages to an
 * applier and returns, so kafkajs fetches on while a transaction runs. There
 * are `appliers` of them (2), applier i owning the partitions whose number is
 * i modulo their count: an agent is keyed by its id on every agent-keyed
 * topic, so it lands on one partition number and one applier, and the
 * appliers lock disjoint agents (an urgent applier beside a bulk one, tried
 * before, only waited on the bulk one's agent_locks rows: a take of
 * heartbeats holds most of the fleet's agents). An applier takes everything
 * its partitions handed in since its last transaction (up to `chunkSize`
 * messages) into one transaction (applyBatches), then commits those
 * partitions' offsets. A transaction's fixed cost (the checkpoint locks, a
 * dozen statements, the commit) is thus paid per fetch interval, not per
 * partition batch: small batches from a live stream cost what big ones do.
 * A partition whose lane holds `maxQueued` messages or more once its batch
 * is queued is paused (kafkajs `pause`) until the lane is half empty:
 * eachBatch never waits, so kafkajs' fetch loop (which fetches again only
 * once every batch of the last fetch was handled) goes on for the other
 * partitions, and a termination notice is fetched while heartbeats wait.
 * Within an applier the `urgentTopics` (interruption signals, replica
 * events) queue in a lane of their own, taken next whenever it holds
 * anything (the lanes alternate while both have work), and a take of the
 * other lane is cut to about `transactionMs` of work (measured on the
 * previous takes), so a notice waits for at most one short transaction.
 * Failures are retried with capped backoff (the queue fills and its
 * partitions are paused meanwhile); nothing is committed past an unstored
 * event. Only a refusal of the data itself (retry.ts) is isolated to its
 * message and dead-lettered.
 */
import type { Admin, Consumer, EachBatchPayload, Kafka, Logger } from 'kafkajs'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import type { Metrics } from '../metrics.js'
import { type ApplyResult, applyBatch, applyBatches, deadLetterRefused, type PartitionBatch } from '../log/apply-batch.js'
import type { Pipeline } from '../log/core.js'
import { readStatementBytes } from '../db/statement-bytes.js'
import { checkPartitionStart, partitionOffsets, type StartCheck } from './partition-start.js'
import { CONSUMER_DEFAULTS, kafkajsTiming } from './consumer-settings.js'
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
  /** Most messages in one transaction. */
  chunkSize?: number
  /**
   * About how long a transaction of the non-urgent lane may take: its take is
   * cut to this many ms at the per-message time of the previous takes (at
   * least MIN_TAKE messages, at most chunkSize). What an urgent message waits
   * for at most, besides its own transaction.
   */
  transactionMs?: number
  /** Transactions run at once, each over the partitions whose number is its index modulo this (default CONSUMER_DEFAULTS.appliers). */
  appliers?: number
  /** Messages handed in and not yet applied (per lane) at which a partition that hands in more is paused (default 4 x chunkSize). */
  maxQueued?: number
  /**
   * Topics queued in a lane of their own, which each applier takes next
   * whenever it holds anything (serve: interruption signals and replica
   * events), so a termination notice never waits behind a backlog of
   * heartbeats and prices.
   */
  urgentTopics?: readonly string[]
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

/** Fewest messages in a take of the non-urgent lane, however slow the last ones were. */
const MIN_TAKE = 200

/** One partition of one topic, as a map key. */
const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`

/** How long a consumer that kafkajs gave up on waits before joining its group again. */
const REJOIN_AFTER_MS = 1_000
/**
 * The longest a stop waits for each of Kafka's parts: the offset commits in
 * flight, then leaving the group. Both are hints (the stored checkpoint is the
 * truth, and the coordinator drops a silent member after the session timeout);
 * with the broker gone, kafkajs retries each for 5-9 s.
 */
const KAFKA_STOP_MS = 2_000

export function createIngestConsumer(opts: IngestOptions): IngestConsumer {
  const { kafka, db, pipeline, metrics } = opts
  const chunkSize = opts.chunkSize ?? 2000
  const maxQueued = opts.maxQueued ?? 4 * chunkSize
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
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true
    positions.clear()
    assign({ ...e.payload.memberAssignment })
    // After a crash kafkajs joins with a new group state, where nothing is paused: forget the old pauses (a full lane pauses again).
    for (const lane of lanes) resumeAll(lane)
  })
  consumer.on(consumer.events.CRASH, (e) => {
    joined = false
    assign({})
    // kafkajs restarts only after a retriable error. A SyncGroup refused during a rebalance (the mock broker does it
    // when members join together) is not one, and the instance would sit out of its group for good: rejoin.
    if (!e.payload.restart && !stopping) setTimeout(() => void rejoin(e.payload.error), REJOIN_AFTER_MS)
  })
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
    for (let attempt = 0; ; attempt++) {
      try {
        return await work()
      } catch (err) {
        const wait = failed(err, { topic: p.batch.topic, partition: p.batch.partition }, attempt)
        const until = Date.now() + wait
        while (Date.now() < until) {
          if (!p.isRunning() || p.isStale()) throw new Stopped()
          await sleep(Math.min(500, until - Date.now()))
          await p.heartbeat()
        }
      }
    }
  }

  /** Logs a failure to be retried and returns the backoff before the next try. */
  function failed(err: unknown, where: object, attempt: number): number {
    metrics?.retries.inc()
    const wait = backoffDelay(attempt, backoff)
    const context = { ...where, attempt, waitMs: Math.round(wait), error: String(err) }
    if (isTransient(err)) log.warn('transient database failure; retrying (fetching waits)', context)
    else log.error('unexpected failure applying a batch; retrying (nothing is skipped)', { ...context, stack: (err as Error)?.stack })
    return wait
  }

  /**
   * Checks the stored checkpoint against the broker when a partition's batch
   * is its first of this assignment or does not follow the last applied
   * offset. False when the batch must not be applied: the partition was
   * sought back to the first message after the checkpoint.
   */
  async function startsWhereExpected(p: EachBatchPayload): Promise<boolean> {
    const { topic, partition, messages } = p.batch
    const key = partitionKey(topic, partition)
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

  /** Handed in by eachBatch, not applied yet, in arrival order (a partition's messages in offset order). */
  interface Queued { chunk: PartitionBatch, payload: EachBatchPayload, lag: number }
  /** A queue of handed-in chunks: one for the urgent topics, one for the rest; their applier takes from both. */
  interface Lane { queue: Queued[], queued: number, paused: Map<string, () => void> }
  const urgent = new Set(opts.urgentTopics ?? [])
  const newLane = (): Lane => ({ queue: [], queued: 0, paused: new Map() })
  /**
   * One transaction at a time each, on its own connection, over the partitions
   * whose number is its index modulo their count. Every agent-keyed topic puts
   * an agent on the same partition number (same key, same partitioner, same
   * partition count), so appliers lock disjoint agents and do not wait on
   * each other's agent_locks rows (only on a few shared rows: a client's day,
   * a pool's hour), like instances of a group do.
   */
  interface Applier {
    urgent: Lane
    bulk: Lane
    wake?: () => void
    last?: Lane
    /** Milliseconds per message of the recent non-urgent takes (moving average); sizes the next take. */
    msPerMessage?: number
    running?: Promise<void>
  }
  const appliers: Applier[] = Array.from({ length: Math.max(1, opts.appliers ?? CONSUMER_DEFAULTS.appliers) }, () => ({ urgent: newLane(), bulk: newLane() }))
  /** Every applier's lanes (fixed at creation). */
  const lanes: readonly Lane[] = appliers.flatMap((a) => [a.urgent, a.bulk])
  const applierOf = (partition: number): Applier => appliers[partition % appliers.length]!
  const laneOf = (a: Applier, topic: string): Lane => (urgent.has(topic) ? a.urgent : a.bulk)
  /** Offset commits, one after another and off the applier's path (each after its transaction committed). */
  let commits: Promise<void> = Promise.resolve()
  let stopping = false
  const transactionMs = opts.transactionMs ?? CONSUMER_DEFAULTS.transactionMs
  const bulkLimit = ({ msPerMessage }: Applier) => msPerMessage === undefined ? Math.min(chunkSize, MIN_TAKE)
    : Math.max(MIN_TAKE, Math.min(chunkSize, Math.round(transactionMs / msPerMessage)))

  /** Merges a take's chunks per partition (applyBatches wants each partition once). */
  function byPartition(take: readonly Queued[]): { batch: PartitionBatch, items: Queued[] }[] {
    const out = new Map<string, { batch: PartitionBatch, items: Queued[] }>()
    for (const q of take) {
      const k = partitionKey(q.chunk.topic, q.chunk.partition)
      const had = out.get(k)
      if (had) {
        had.batch = { ...had.batch, messages: [...had.batch.messages, ...q.chunk.messages] }
        had.items.push(q)
      } else out.set(k, { batch: q.chunk, items: [q] })
    }
    return [...out.values()]
  }

  /** One transaction over several partitions; a refusal falls back to each partition alone, isolating the refused message. */
  async function applyTake(groups: readonly { batch: PartitionBatch }[]): Promise<void> {
    if (groups.length === 1) return applyIsolating(groups[0]!.batch)
    let results: ApplyResult[]
    try {
      results = await applyBatches(db, groups.map((g) => g.batch), pipeline, { maxStatementBytes })
    } catch (err) {
      if (!isRefusal(err)) throw err
      for (const g of groups) await applyIsolating(g.batch)
      return
    }
    results.forEach((r, i) => record(r, groups[i]!.batch))
  }

  /**
   * The urgent lane if it holds anything and did not have the last take,
   * else the other one. Turns alternate while both have work: an urgent
   * message waits for at most one take of the other lane, and a steady
   * trickle of signals and replica reports (new ones arrive with every
   * fetch) cannot starve the heartbeats.
   */
  const nextLane = (a: Applier): Lane | undefined => {
    const { urgent: u, bulk: b } = a
    if (u.queue.length > 0 && (a.last !== u || b.queue.length === 0)) return u
    return b.queue.length > 0 ? b : undefined
  }

  async function runApplier(a: Applier): Promise<void> {
    while (!stopping) {
      const lane = nextLane(a)
      if (!lane) {
        await new Promise<void>((r) => { a.wake = r })
        a.wake = undefined
        continue
      }
      a.last = lane
      const { queue } = lane
      // Everything handed in so far, up to the lane's limit (at least one chunk).
      const limit = lane === a.urgent ? chunkSize : bulkLimit(a)
      let n = 0
      let count = 0
      while (n < queue.length && (n === 0 || count + queue[n]!.chunk.messages.length <= limit)) count += queue[n++]!.chunk.messages.length
      // A chunk bigger than the limit is cut: the rest stays first in the queue.
      if (n === 1 && count > limit) {
        const head = queue[0]!
        queue[0] = { ...head, chunk: { ...head.chunk, messages: head.chunk.messages.slice(limit) } }
        queue.unshift({ ...head, chunk: { ...head.chunk, messages: head.chunk.messages.slice(0, limit) } })
        count = limit
      }
      const take = queue.splice(0, n).filter((q) => q.payload.isRunning() && !q.payload.isStale())
      const groups = byPartition(take)
      const started = performance.now()
      for (let attempt = 0; groups.length > 0; attempt++) {
        try {
          await applyTake(groups)
          break
        } catch (err) {
          const wait = failed(err, { partitions: groups.map((g) => `${g.batch.topic}/${g.batch.partition}`) }, attempt)
          const until = Date.now() + wait
          while (Date.now() < until && !stopping) await sleep(Math.min(500, until - Date.now()))
          if (stopping) return
        }
      }
      const ms = performance.now() - started
      if (lane === a.bulk && count > 0) a.msPerMessage = a.msPerMessage === undefined ? ms / count : 0.7 * a.msPerMessage + 0.3 * (ms / count)
      lane.queued -= count
      if (lane.queued <= maxQueued / 2) resumeAll(lane)
      if (groups.length === 0) continue
      const offsets = groups.map((g) => ({ topic: g.batch.topic, partition: g.batch.partition, offset: (BigInt(g.batch.messages.at(-1)!.offset) + 1n).toString() }))
      commits = commits.then(() => consumer.commitOffsets(offsets)).catch((err: unknown) => {
        // A rebalance took the partition away: the stored checkpoint is the truth, the new owner reads on from it.
        log.warn('offset commit failed after the batch was stored; the next owner skips what is stored', { error: String(err) })
      })
      if (metrics) {
        metrics.batches.inc()
        metrics.batchSeconds.inc({}, ms / 1000)
        for (const g of groups) {
          // A partition that moved to another instance during the transaction keeps no series here.
          if (assignment[g.batch.topic]?.includes(g.batch.partition)) metrics.lag.set({ topic: g.batch.topic, partition: String(g.batch.partition) }, g.items.at(-1)!.lag)
        }
      }
    }
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
    if (!p.isRunning() || p.isStale() || stopping) return
    const lag = Number(p.batch.offsetLag())
    const a = applierOf(partition)
    const lane = laneOf(a, topic)
    const key = partitionKey(topic, partition)
    for (let i = 0; i < messages.length; i += chunkSize) {
      const chunk: PartitionBatch = { topic, partition, messages: messages.slice(i, i + chunkSize) }
      lane.queue.push({ chunk, payload: p, lag })
      lane.queued += chunk.messages.length
    }
    a.wake?.()
    const last = messages.at(-1)!.offset
    positions.set(key, BigInt(last))
    // The fetch position moves on; the committed offset follows the stored checkpoint (runApplier).
    p.resolveOffset(last)
    // Backpressure without waiting: the partition is left out of the fetches until its lane is half empty (runApplier).
    if (lane.queued >= maxQueued && !lane.paused.has(key)) {
      lane.paused.set(key, p.pause())
      countPaused()
    }
  }

  async function waitAtStop(what: string, p: Promise<unknown>): Promise<void> {
    const done = await within(p.then(() => true, (err: unknown) => { log.warn(`${what} failed at stop`, { error: String(err) }); return true }), KAFKA_STOP_MS, false)
    if (!done) log.warn(`${what}: no answer from Kafka within ${KAFKA_STOP_MS} ms; stopping without it`)
  }

  const countPaused = () => metrics?.pausedPartitions.set({}, lanes.reduce((n, lane) => n + lane.paused.size, 0))

  /** Resumes the partitions a full lane paused. */
  function resumeAll(lane: Lane): void {
    if (lane.paused.size === 0) return
    for (const resume of lane.paused.values()) resume()
    lane.paused.clear()
    countPaused()
  }

  const runConfig = {
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 4,
    eachBatch,
  }

  async function rejoin(cause: Error): Promise<void> {
    if (stopping) return
    log.warn('the consumer stopped after an error kafkajs does not retry; rejoining the group', { error: String(cause) })
    try {
      await consumer.connect()
      await consumer.run(runConfig)
    } catch (err) {
      log.error('rejoining failed; trying again', { error: String(err) })
      setTimeout(() => void rejoin(cause), REJOIN_AFTER_MS)
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
      stopping = false
      for (const a of appliers) {
        a.running = runApplier(a)
        a.running.catch((err: unknown) => log.error('an applier stopped', { error: String(err) }))
      }
      await consumer.run(runConfig)
    },
    async stop() {
      // The transaction in flight finishes and its offsets are committed; what waits is read again by the next owner.
      stopping = true
      for (const a of appliers) a.wake?.()
      try {
        for (const a of appliers) await a.running
        await waitAtStop('the offset commits', commits)
        for (const lane of lanes) {
          lane.queue.length = 0
          lane.queued = 0
          lane.paused.clear()
        }
        countPaused()
        await waitAtStop('leaving the consumer group', consumer.disconnect())
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
