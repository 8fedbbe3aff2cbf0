/**
 * The one type of what event_log holds: wire events (consumed inputs and the
 * commands the service sends), user requests (HTTP) and decisions. Each row's
 * payload is the event as JSON without the envelope fields its own columns
 * hold exactly (logRowOf), and storedEventOfRow puts them back; parseStoredEvent
 * is the one way from a decoded event to a typed one (wire events go through
 * the upcasters first).
 */
import { EVENT_TYPES, type SpotEvent } from '../events/schemas.js'
import { parseEventObject, renderIssues } from '../events/parse.js'
import type { EventLogRow, NewEventLog } from '../db/database.js'
import { isoFromDb, toDbTime } from '../db/time.js'
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

/** The columns storedEventOfRow reads: the payload and the envelope fields logRowOf left to their columns. */
export const LOG_EVENT_COLUMNS = ['seq', 'event_id', 'type', 'version', 'client_id', 'agent_id', 'occurred_at', 'cause_event_id', 'payload'] as const
export type LogEventRow = Pick<EventLogRow, typeof LOG_EVENT_COLUMNS[number]>

/**
 * An event_log row to its event. The log holds only what passed these
 * schemas, so a failure is corruption: it throws, naming the row. A payload
 * that has its eventId was written whole (rows logged before the envelope
 * moved to the columns); otherwise the envelope comes back from the columns.
 */
export function storedEventOfRow(row: LogEventRow): StoredEvent {
  let json: unknown
  try {
    json = JSON.parse(row.payload)
  } catch (err) {
    throw new Error(`event_log seq ${row.seq}: payload is not JSON: ${String(err)}`)
  }
  const r = parseStoredEvent(typeof json === 'object' && json !== null && !('eventId' in json) ? withEnvelope(row, json) : json)
  if (!r.ok) throw new Error(`event_log seq ${row.seq}: ${r.reason}`)
  return r.event
}

function withEnvelope(row: LogEventRow, rest: object): object {
  // One object literal in the schemas' key order, then the payload's keys: zod reads it as fast as a whole payload.
  return {
    eventId: row.event_id, type: row.type, version: row.version,
    occurredAt: 'occurredAt' in rest ? rest.occurredAt : isoFromDb(row.occurred_at),
    clientId: 'clientId' in rest || row.client_id === null ? undefined : row.client_id,
    agentId: 'agentId' in rest || row.agent_id === null ? undefined : row.agent_id,
    causeEventId: 'causeEventId' in rest || row.cause_event_id === null || !row.type.startsWith('decision.') ? undefined : row.cause_event_id,
    ...rest,
  }
}

/**
 * The payload of `e`: the event without what its columns give back exactly
 * (withEnvelope): eventId, type, version, clientId and agentId always, a
 * decision's causeEventId, and occurredAt when it is in the canonical form
 * a DATETIME(3) in UTC reads back as (an offset or another precision stays in
 * the payload). A heartbeat's payload is 40 % of the whole event's text, and
 * the log's insert is the largest statement of every batch.
 */
function payloadOf(e: StoredEvent, occurredAt: string): string {
  const { eventId: _id, type: _type, version: _version, clientId: _client, agentId: _agent, occurredAt: at, ...rest } = e
  const payload: Record<string, unknown> = isoFromDb(occurredAt) === at ? rest : { occurredAt: at, ...rest }
  if ('causeEventId' in payload && e.type.startsWith('decision.')) delete payload['causeEventId']
  return JSON.stringify(payload)
}

export interface LogPosition { topic: string, partition: number, offset: string }

/** The event_log row of a stored event. `cause` for what the service produced (decisions carry theirs; commands get it here). */
export function logRowOf(e: StoredEvent, source: LogSource, opts: { position?: LogPosition, cause?: string } = {}): NewEventLog {
  const cause = 'causeEventId' in e ? e.causeEventId : opts.cause ?? null
  const occurredAt = toDbTime(e.occurredAt)
  return {
    event_id: e.eventId, type: e.type, version: e.version, client_id: e.clientId, agent_id: e.agentId,
    occurred_at: occurredAt, payload: payloadOf(e, occurredAt), source, cause_event_id: cause,
    topic: opts.position?.topic ?? null, partition_no: opts.position?.partition ?? null, offset_no: opts.position?.offset ?? null,
  }
}
