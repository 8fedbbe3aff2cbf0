/**
 * `serve`: the consumer, the outbox relay and the HTTP API in one process,
 * with the logger, timeouts and a graceful close on SIGTERM/SIGINT (finish
 * the current chunk, commit, leave the group, close the pool, exit 0).
 */
import Fastify, { LogController } from 'fastify'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { app } from './app.js'
import { type Config, topicsOf } from './config.js'
import { inputTopics } from './events/schemas.js'
import { createDb } from './db/connect.js'
import { createIngestConsumer } from './ingest/consumer.js'
import { kafkaLog } from './ingest/kafka-log.js'
import { pipeline as buildPipeline } from './wiring.js'
import { createOutboxRelay, leftForRelay } from './ingest/outbox-relay.js'
import { startOfflineSweeper } from './agent/offline-sweep.js'
import { Metrics } from './metrics.js'
import { checkBroker, checkDatabase } from './startup-checks.js'

export interface Running {
  port: number
  /** Resolves once a shutdown (signal or close()) has finished. */
  closed: Promise<void>
  close(): Promise<void>
}

export interface ServeOptions {
  /** Close on SIGTERM/SIGINT (default true; the demo handles signals itself). */
  signals?: boolean
  /** Log every request (default true). */
  requestLogs?: boolean
}

export async function serve(config: Config, opts: ServeOptions = {}): Promise<Running> {
  const fastify = Fastify({
    logger: { level: config.LOG_LEVEL },
    logController: new LogController({ disableRequestLogging: opts.requestLogs === false }),
    requestTimeout: 30_000,
    connectionTimeout: 10_000,
  })
  const log = fastify.log
  const db = createDb({ url: config.DATABASE_URL })
  // Refuse to start on a database that refuses, is not migrated, or without a broker: one line each.
  try {
    await checkDatabase(db, config.DATABASE_URL)
    await checkBroker(config.KAFKA_BROKERS)
  } catch (err) {
    await db.destroy()
    throw err
  }
  const metrics = new Metrics()
  // A broker outage is one warning and one line when it ends, not kafkajs' lines for every retry.
  const kafkaLogs = kafkaLog(log)
  const kafka = new Kafka({
    clientId: config.KAFKA_CLIENT_ID,
    brokers: [...config.KAFKA_BROKERS],
    logLevel: logLevel.WARN,
    logCreator: kafkaLogs.logCreator,
  })
  const t = topicsOf(config)
  const topics = inputTopics(t)
  const producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  const relay = createOutboxRelay({ db, producer, commandsTopic: t.replicaCommands, log: kafka.logger(), metrics })
  // One pipeline: the consumer and the HTTP commands go through the same rules and projections.
  const pipeline = buildPipeline({ rebalancePolicy: config.REBALANCE_POLICY, recentInterruptionMinutes: config.POOL_RECENT_INTERRUPTION_MINUTES })
  const consumer = createIngestConsumer({
    kafka, db, metrics, groupId: config.KAFKA_GROUP_ID, topics, pipeline, urgentTopics: [t.spotInterruptions, t.replicaEvents],
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS, heartbeatIntervalMs: config.KAFKA_HEARTBEAT_INTERVAL_MS, maxWaitTimeMs: config.KAFKA_FETCH_MAX_WAIT_MS,
    transactionMs: config.INGEST_TRANSACTION_MS, appliers: config.INGEST_APPLIERS,
    onApplied: (r) => { if (leftForRelay(r)) relay.wake(r.deadLettered > 0) },
  })
  // Every answered fetch ends an outage too: after a short one kafkajs reconnects without rejoining the group.
  // Each from when it began: a fetch answered just after the broker went away was sent before (test/demo-broker-gone.test.ts saw two warnings).
  consumer.consumer.on(consumer.consumer.events.GROUP_JOIN, (e) => kafkaLogs.connected(e.timestamp - e.payload.duration))
  consumer.consumer.on(consumer.consumer.events.FETCH, (e) => kafkaLogs.connected(e.timestamp - e.payload.duration))
  producer.on(producer.events.CONNECT, () => kafkaLogs.connected())

  // Silent agents: every sweep at most a quarter of the timeout late (at least every 30 s, at most every 0.5 s).
  let sweeper: { stop(): Promise<void> } | undefined
  const startSweeper = () => {
    sweeper = startOfflineSweeper(db, {
      offlineSeconds: config.AGENT_OFFLINE_SECONDS, projections: pipeline.projections,
      everyMs: Math.min(30_000, Math.max(500, (config.AGENT_OFFLINE_SECONDS * 1000) / 4)),
      log: (err) => log.warn({ err }, 'offline sweep failed; the next one tries again'),
    })
  }

  let closing: Promise<void> | undefined
  let done!: () => void
  const closed = new Promise<void>((resolve) => { done = resolve })
  // HTTP first (no new commands), then the consumer finishes its chunk and
  // commits, then the relay publishes what is pending; every step is tried.
  const close = () => (closing ??= (async () => {
    log.info('shutting down: finishing the current batch')
    for (const [what, step] of [
      ['http', () => fastify.close()], ['sweeper', async () => sweeper?.stop()], ['consumer', () => consumer.stop()], ['relay', () => relay.stop()],
      ['producer', () => producer.disconnect()], ['database', () => db.destroy()],
    ] as const) {
      try { await step() } catch (err) { log.error({ err }, `closing the ${what} failed`) }
    }
    log.info('stopped')
    done()
  })())

  try {
    await fastify.register(app, {
      db, metrics, consumerReady: consumer.isReady, consumerStatus: consumer.status, relayHolder: relay.isHolder, pipeline, corsOrigins: config.CORS_ORIGINS, operatorToken: config.OPERATOR_TOKEN,
      rateLimit: { max: config.RATE_LIMIT_PER_MINUTE, timeWindowMs: 60_000 },
    })
    await producer.connect()
    relay.start()
    startSweeper()
    await consumer.start()
    await fastify.listen({ port: config.PORT, host: config.HOST })
  } catch (err) {
    await close()
    throw err
  }
  if (opts.signals !== false) {
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => { void close() })
  }
  const address = fastify.server.address()
  return { port: typeof address === 'object' && address ? address.port : config.PORT, closed, close }
}
