/**
 * A decider reads its state and decides: for each input of a batch it returns
 * the decisions and commands it took, or a rejection, as typed values. It
 * writes its own state (e.g. the agents' rows) inside the transaction; the
 * core writes what it returns (event_log, outbox) and hands accepted inputs
 * and decisions to the projections. A replay never calls a decider: the
 * decisions are in the log.
 */
import type { Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { EventOf, EventType } from '../events/schemas.js'
import type { DecisionEvent, RefusalCode } from './decisions.js'
import type { StoredEvent, StoredOf, StoredType } from './stored-event.js'

export type CommandType = Extract<EventType, `command.${string}`>
export type CommandEvent = EventOf<CommandType>

/** What a decider concluded about one input. */
export interface Verdict {
  readonly decisions: readonly DecisionEvent[]
  /** Commands for agents: appended to event_log (caused by the input) and to the outbox. */
  readonly commands: readonly CommandEvent[]
  /** A rule violation no retry can fix: the input changes nothing (Kafka dead-letters it, HTTP answers 409). */
  readonly rejection?: string
  /** The rejection's code, when the decider gave one. */
  readonly rejectionCode?: RefusalCode
  /**
   * The decider holds the input for later (the agent rules park the events of
   * an agent that has not registered): it is logged with its decisions, but
   * projections do not see it now, and it is not dead-lettered.
   */
  readonly held?: boolean
  /** Inputs held earlier that this one released, applied right after it, each with its own verdict (their decisions are caused by them). */
  readonly released?: readonly { readonly event: StoredEvent, readonly verdict: Verdict }[]
}

export interface Decider<T extends StoredType = StoredType> {
  readonly name: string
  readonly handles: readonly T[]
  /**
   * Takes the decider's row locks before the inputs are appended to
   * event_log, so that the log order of one aggregate's inputs is the order
   * in which transactions held its lock (a replay folds in log order).
   */
  lock(trx: Transaction<Database>, inputs: readonly StoredOf<T>[]): Promise<void>
  /** Decides over new (never before applied) inputs in log order; the verdicts are keyed by input event id. */
  decide(trx: Transaction<Database>, inputs: readonly StoredOf<T>[]): Promise<ReadonlyMap<string, Verdict>>
}

/** Any decider, whatever its T (see AnyProjection). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDecider = Decider<any>
