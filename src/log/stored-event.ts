/**
 * The one type of what event_log holds: wire events (consumed inputs and the
 * commands the service sends), user requests (HTTP) and decisions. Each row's
 * payload is the whole event as JSON; parseStoredEvent is the one way back
 * from a row to a typed event (wire events go through the upcasters first).
 */
import { EVENT_TYPES, type SpotEvent } from '../events/schemas.js'
import { parseEventObject, renderIssues } from '../events/parse.js'
import type { EventLogRow, NewEventLog } from '../db/database.js'
import { toDbTime } from '../db/time.js'
import { DECISION_TYPES, DecisionEventSchema, type DecisionEvent } from './decisions.js'
import { USER_REQUEST_TYPES, UserRequestSchema, type UserRequest } from './user-requests.js'

export type StoredEvent = SpotEvent | UserRequest | DecisionEvent
export type StoredType = StoredEvent['type']
export type StoredOf<T extends StoredType> = Extract<StoredEvent, { type: T }>

export const STORED_TYPES: readonly StoredType[] = [...EVENT_TYPES, ...USER_REQUEST_TYPES, ...DECISION_TYPES]
const STORED = new Set<string>(STORED_TYPES)

export function isStoredType(type: string): type is StoredType {
  return STORED.has(type)
}

/** Whether the event has one of `types` (narrows it to those types). */
export function isStoredOf<T extends StoredType>(e: StoredEvent, types: ReadonlySet<T>): e is StoredOf<T> {
  return (types as ReadonlySet<string>).has(e.type)
}

/** Where a row came from: a door (kafka, http) or the service itself (decision: decisions and commands). */
export type LogSource = 'kafka' | 'http' | 'decision'

export type StoredParseResult = { ok: true, event: StoredEvent } | { ok: false, reason: string }

/** A decoded payload back to its typed event; never throws. */
export function parseStoredEvent(json: unknown): StoredParseResult {
  const type = typeof json === 'object' && json !== null ? (json as { type?: unknown }).type : undefined
  if (typeof type === 'string' && (type.startsWith('decision.') || type.startsWith('user.'))) {
    const r = type.startsWith('decision.') ? DecisionEventSchema.safeParse(json) : UserRequestSchema.safeParse(json)
    return r.success ? { ok: true, event: r.data } : { ok: false, reason: `schema: ${renderIssues(r.error.issues)}` }
  }
  return parseEventObject(json)
}

/** An event_log row to its event. The log holds only what passed these schemas, so a failure is corruption: it throws, naming the row. */
export function storedEventOfRow(row: Pick<EventLogRow, 'seq' | 'payload'>): StoredEvent {
  let json: unknown
  try {
    json = JSON.parse(row.payload)
  } catch (err) {
    throw new Error(`event_log seq ${row.seq}: payload is not JSON: ${String(err)}`)
  }
  const r = parseStoredEvent(json)
  if (!r.ok) throw new Error(`event_log seq ${row.seq}: ${r.reason}`)
  return r.event
}

export interface LogPosition { topic: string, partition: number, offset: string }

/** The event_log row of a stored event. `cause` for what the service produced (decisions carry theirs; commands get it here). */
export function logRowOf(e: StoredEvent, source: LogSource, opts: { position?: LogPosition, cause?: string } = {}): NewEventLog {
  const cause = 'causeEventId' in e ? e.causeEventId : opts.cause ?? null
  return {
    event_id: e.eventId, type: e.type, version: e.version, client_id: e.clientId, agent_id: e.agentId,
    occurred_at: toDbTime(e.occurredAt), payload: JSON.stringify(e), source, cause_event_id: cause,
    topic: opts.position?.topic ?? null, partition_no: opts.position?.partition ?? null, offset_no: opts.position?.offset ?? null,
  }
}
