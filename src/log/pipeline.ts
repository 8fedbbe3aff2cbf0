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
  /**
   * Takes the handler's row locks before the events are appended to
   * event_log, so that the log order of one aggregate's inputs is the order
   * in which transactions held its lock (a replay folds in log order).
   */
  lock?(trx: Transaction<Database>, events: readonly SpotEvent[]): Promise<void>
}

/** Runs every handler's lock hook over the events it handles. */
export async function lockForHandlers(trx: Transaction<Database>, events: readonly SpotEvent[], handlers: readonly EventHandler[]): Promise<void> {
  for (const h of handlers) {
    const mine = events.filter((e) => h.handles.has(e.type))
    if (h.lock && mine.length > 0) await h.lock(trx, mine)
  }
}
