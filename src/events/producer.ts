// The one way agents, the demo fleet and the outbox relay put events on Kafka:
// every event is validated against the contract before anything is sent, goes
// to its type's topic, and is keyed so that one agent's (or one pool's) events
// stay in order on one partition.
import { randomUUID } from 'node:crypto'
import { Partitioners, type Kafka, type Message, type RecordMetadata } from 'kafkajs'
import { renderIssues } from './parse.js'
import {
  DEFAULT_TOPICS, EventSchema, TOPIC_OF, partitionKeyOf,
  type DataInputOf, type EventOf, type EventType, type SpotEvent, type SpotEventInput, type Topics,
} from './schemas.js'

export const EVENT_TYPE_HEADER = 'event-type'

export class InvalidEventError extends Error {
  readonly code = 'INVALID_EVENT'
  constructor(readonly index: number, readonly eventType: unknown, readonly issues: string) {
    super(`invalid event [${index}] (${String(eventType)}): ${issues}`)
    this.name = 'InvalidEventError'
  }
}

export interface EventProducer {
  connect(): Promise<void>
  /** Validates all events first (throws InvalidEventError, sending nothing), then sends them in one batch. */
  send(events: readonly SpotEventInput[]): Promise<RecordMetadata[]>
  disconnect(): Promise<void>
}

export interface EventProducerOptions {
  /** kafkajs's idempotent producer; off by default because it is marked experimental there. */
  idempotent?: boolean
  /**
   * 1 by default: with more requests in flight a retried batch can land behind
   * a later one, which would break the per-agent order the consumer relies on.
   */
  maxInFlightRequests?: number
}

export function createEventProducer(kafka: Kafka, topics: Topics = DEFAULT_TOPICS, options: EventProducerOptions = {}): EventProducer {
  const producer = kafka.producer({
    idempotent: options.idempotent ?? false,
    maxInFlightRequests: options.maxInFlightRequests ?? 1,
    // Named explicitly: it is kafkajs 2's default anyway (murmur2, the Java
    // client's partitioner, so keys land where other clients put them) and
    // naming it silences the v1-migration warning.
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  return {
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    async send(events) {
      const valid = events.map(validate)
      if (valid.length === 0) return []
      const byTopic = new Map<string, Message[]>()
      for (const event of valid) {
        const topic = topics[TOPIC_OF[event.type]]
        const messages = byTopic.get(topic) ?? []
        messages.push(toKafkaMessage(event))
        byTopic.set(topic, messages)
      }
      return producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      })
    },
  }
}

/** Key, JSON value and type header of one validated event. */
export function toKafkaMessage(event: SpotEvent): Message {
  return { key: partitionKeyOf(event), value: JSON.stringify(event), headers: { [EVENT_TYPE_HEADER]: event.type } }
}

function validate(event: SpotEventInput, index: number): SpotEvent {
  const r = EventSchema.safeParse(event)
  if (!r.success) throw new InvalidEventError(index, (event as { type?: unknown }).type, renderIssues(r.error.issues))
  return r.data
}

export interface NewEventFields<T extends EventType> {
  clientId: string
  agentId: string
  data: DataInputOf<T>
  /** Only for replays and tests; a fresh random UUID otherwise. */
  eventId?: string
  /** Defaults to the clock's now. */
  occurredAt?: string | Date
}

/**
 * Builds a current-version event of `type` and validates it, so a bad field
 * fails where the event is made rather than at send. Money in `data` may be a
 * number or a decimal string; the result carries the normalised string.
 */
export function newEvent<T extends EventType>(type: T, fields: NewEventFields<T>, clock: () => Date = () => new Date()): EventOf<T> {
  const occurredAt = fields.occurredAt ?? clock()
  const candidate = {
    eventId: fields.eventId ?? randomUUID(),
    type,
    version: 1,
    occurredAt: typeof occurredAt === 'string' ? occurredAt : occurredAt.toISOString(),
    clientId: fields.clientId,
    agentId: fields.agentId,
    data: fields.data,
  }
  return validate(candidate as SpotEventInput, 0) as EventOf<T>
}
