/**
 * The one interface through which rules and projections see consumed events.
 * A batch of one partition is applied in one transaction: the consumer stores
 * new events in event_log, then hands them to each handler in order; what a
 * handler emits (decision events, commands for agents, rejections) is written
 * by the consumer in the same transaction.
 */
import type { Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { EventOf, EventType, SpotEvent } from '../events/schemas.js'

export type CommandType = Extract<EventType, `command.${string}`>
export type CommandEvent = EventOf<CommandType>

/** An entry for event_log that the service itself decided (not consumed). */
export interface DecisionEntry {
  eventId: string
  type: string
  clientId: string | null
  agentId: string | null
  occurredAt: string
  payload: unknown
  causeEventId: string
}

export interface BatchContext {
  /** Commands go to the outbox (and the event log); the relay publishes them. */
  command(command: CommandEvent, cause: SpotEvent): void
  /** A decision of the service, appended to event_log with its cause. */
  decision(entry: DecisionEntry): void
  /** A rule violation no retry can fix: the event is dead-lettered with the reason. */
  reject(event: SpotEvent, reason: string): void
}

export interface EventHandler {
  readonly name: string
  readonly handles: ReadonlySet<EventType>
  /** Apply new (never before applied) events, in partition order, inside `trx`. */
  apply(trx: Transaction<Database>, events: readonly SpotEvent[], ctx: BatchContext): Promise<void>
}

/** ISO 8601 instant -> MariaDB DATETIME(3) literal in UTC. */
export function toDbTime(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso
  return d.toISOString().slice(0, 23).replace('T', ' ')
}

/** MariaDB DATETIME string (UTC) -> Date. */
export function fromDbTime(s: string): Date {
  return new Date(s.replace(' ', 'T') + 'Z')
}
