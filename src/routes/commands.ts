/**
 * HTTP commands into the agent rules: the request becomes an event (its id
 * from a uuid Idempotency-Key, or fresh), goes through submitAgentEvent, and
 * a rejection becomes a 409 with the rule's reason. A retried request with the
 * same key is a duplicate: nothing is applied again and the first outcome is
 * answered (its rejection, or the logged event so the route can name the
 * replica it created).
 */
import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { AgentInput } from '../agent/agent.events.js'
import type { Database } from '../db/database.js'
import { ConflictError, RuleRejectedError } from '../errors.js'
import { type Pipeline, submitInput } from '../log/core.js'
import { LOG_EVENT_COLUMNS, type StoredEvent, storedEventOfRow } from '../log/stored-event.js'

export interface CommandDeps {
  db: Kysely<Database>
  pipeline: Pipeline
}

/** The command's event id: the request's Idempotency-Key (validated by the route's header schema), or fresh. */
export function eventIdOf(headers: { 'idempotency-key'?: string | undefined }): string {
  return headers['idempotency-key'] ?? randomUUID()
}

/** Submits `event`; returns the event as logged (the first one, for a retried request). */
export async function submitCommand<E extends AgentInput>(deps: CommandDeps, event: E): Promise<E> {
  const r = await submitInput(deps.db, event, deps.pipeline)
  if (r.rejection !== null) throw new RuleRejectedError(r.rejection, r.rejectionCode)
  if (!r.duplicate) return event
  const logged = storedEventOfRow(await deps.db.selectFrom('event_log').select(LOG_EVENT_COLUMNS)
    .where('event_id', '=', event.eventId).executeTakeFirstOrThrow())
  if (!sameRequest(logged, event)) throw new ConflictError('Idempotency-Key was already used for another request')
  const rejected = await deps.db.selectFrom('event_log').select(LOG_EVENT_COLUMNS)
    .where('cause_event_id', '=', event.eventId).where('type', '=', 'decision.rejected').executeTakeFirst()
  if (rejected !== undefined) {
    const d = storedEventOfRow(rejected)
    if (d.type === 'decision.rejected') throw new RuleRejectedError(d.data.reason, d.data.code ?? null)
  }
  return logged
}

/** The logged event is a request of the same type for the same agent (the discriminant decides its shape). */
const sameRequest = <E extends AgentInput>(logged: StoredEvent, event: E): logged is E => logged.type === event.type && logged.agentId === event.agentId
