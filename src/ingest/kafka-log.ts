/**
 * kafkajs' log lines through the service's logger, with a broker outage
 * condensed. While a broker is unreachable, kafkajs logs every failed attempt
 * of every client: two lines and a stack a retry, then a crash and a restart
 * of the consumer, over and over, for as long as the outage lasts. Here the
 * first connection error is one warning, everything kafkajs says after it is
 * counted, and the first connection that works again (a group joined, a fetch
 * answered, a producer connected: `connected()`) ends the outage with one line.
 */
import { type LogEntry, logLevel } from 'kafkajs'

export interface ServiceLogger {
  error(extra: object, message: string): void
  warn(extra: object, message: string): void
  info(extra: object, message: string): void
}

const CONNECTION_ERROR = /Connection error|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|ETIMEDOUT|Connection timeout|Failed to connect|Closed connection|not reachable/i

export interface KafkaLog {
  /** For `new Kafka({ logCreator })`. */
  logCreator: () => (entry: LogEntry) => void
  /**
   * A connection works: ends an outage, if one was on. `startedAt` is when
   * the request that worked was sent: one sent before the outage began (a
   * fetch in flight when the broker went away, answered from what was already
   * read) says nothing about the broker now, and does not end it.
   */
  connected(startedAt?: number): void
}

export function kafkaLog(log: ServiceLogger, now: () => number = Date.now): KafkaLog {
  let outage: { since: number, lines: number } | null = null
  return {
    logCreator: () => ({ level, log: entry }) => {
      if (level > logLevel.WARN) return
      const { message, ...extra } = entry
      if (outage) { outage.lines++; return }
      const stack = 'stack' in extra && typeof extra.stack === 'string' ? extra.stack : ''
      if (CONNECTION_ERROR.test(message) || CONNECTION_ERROR.test(stack)) {
        outage = { since: now(), lines: 1 }
        const broker = 'broker' in extra && typeof extra.broker === 'string' ? extra.broker : undefined
        log.warn({ broker }, `broker unreachable: ${message}; retrying (what kafkajs logs until a connection works again is counted, not shown)`)
      } else if (level <= logLevel.ERROR) {
        log.error(extra, message)
      } else {
        log.warn(extra, message)
      }
    },
    connected(startedAt = now()) {
      if (!outage || startedAt < outage.since) return
      const seconds = Math.round((now() - outage.since) / 1000)
      log.info({ seconds, lines: outage.lines }, `broker reachable again after ${seconds} s (${outage.lines} kafkajs log lines while it was not)`)
      outage = null
    },
  }
}
