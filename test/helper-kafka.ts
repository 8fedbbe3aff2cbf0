/**
 * Test helpers for the broker at KAFKA_BROKERS (scripts/local-servers.sh run
 * starts librdkafka's mock cluster): random topic and group names per test,
 * every client disconnected in teardown, and waiting for conditions.
 */
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import type { Test } from 'tap'
import type { Topics } from '../src/events/schemas.js'

export function brokers(): string[] {
  const b = process.env.KAFKA_BROKERS
  if (!b) throw new Error('KAFKA_BROKERS is not set: run the tests through scripts/local-servers.sh run (npm test)')
  return b.split(',')
}

export const uniqueName = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`

/** A fresh set of the service's topics (the commands topic too), so that a test meets no other test's messages. */
export function uniqueTopics(): Topics {
  return {
    spotInterruptions: uniqueName('si'), replicaEvents: uniqueName('re'), agentEvents: uniqueName('ae'),
    pricingSnapshots: uniqueName('ps'), replicaCommands: uniqueName('rc'),
  }
}

export function kafkaFor(clientId = uniqueName('test')): Kafka {
  return new Kafka({ clientId, brokers: brokers(), logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } })
}

export async function connectedProducer(t: Test, kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1 })
  await producer.connect()
  t.teardown(() => producer.disconnect())
  return producer
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
