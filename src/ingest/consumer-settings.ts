/**
 * The consumer group's timing, in one place: the defaults `serve` uses (and
 * README "Running at scale" explains), and how they become kafkajs options.
 * The defaults were picked by bench/takeover.ts: a killed member's
 * partitions wait out the session timeout, and an idle partition's next
 * message waits out the fetch's max wait on brokers that hold a fetch for
 * it (librdkafka's mock cluster does, whatever arrives meanwhile).
 */
import type { ConsumerConfig } from 'kafkajs'

export interface ConsumerSettings {
  /** How long a silent member (a crashed process) keeps its partitions. */
  sessionTimeoutMs: number
  /** How often a member tells the coordinator it is alive; well under the session timeout. */
  heartbeatIntervalMs: number
  /** How long a fetch waits for data before it answers empty. */
  maxWaitTimeMs: number
  /** About how long one transaction of non-urgent messages may take (consumer.ts: what a termination notice waits for at most). */
  transactionMs: number
  /** Transactions of one instance at once, on disjoint partitions (consumer.ts). */
  appliers: number
}

export const CONSUMER_DEFAULTS: Readonly<ConsumerSettings> = Object.freeze({
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  maxWaitTimeMs: 100,
  transactionMs: 500,
  appliers: 2,
})

/** The kafkajs consumer options for these settings (group id and topic creation are the caller's). */
export function kafkajsTiming(s: Partial<ConsumerSettings> = {}): Pick<ConsumerConfig, 'sessionTimeout' | 'heartbeatInterval' | 'maxWaitTimeInMs' | 'rebalanceTimeout'> {
  const sessionTimeout = s.sessionTimeoutMs ?? CONSUMER_DEFAULTS.sessionTimeoutMs
  const heartbeatInterval = Math.min(s.heartbeatIntervalMs ?? CONSUMER_DEFAULTS.heartbeatIntervalMs, Math.floor(sessionTimeout / 3))
  return {
    sessionTimeout,
    heartbeatInterval,
    maxWaitTimeInMs: s.maxWaitTimeMs ?? CONSUMER_DEFAULTS.maxWaitTimeMs,
    rebalanceTimeout: REBALANCE_TIMEOUT_MS,
  }
}

/** How long the coordinator waits for members to rejoin during a rebalance (kafkajs default). */
export const REBALANCE_TIMEOUT_MS = 60_000
