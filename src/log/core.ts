/**
 * The application core: one batch of inputs from a door, applied inside the
 * door's transaction. Deciders lock, the inputs are appended to event_log,
 * the deciders decide, the projections fold each accepted input followed by
 * the decisions it caused, and the decisions, commands and outbox rows are
 * written. The door adds its own position (the Kafka checkpoint) in the same
 * transaction; HTTP has none (submitInput).
 *
 * Decisions stay typed values from the decider to the projections and back to
 * the door; they are serialised only into event_log and outbox.
 */
import type { Kysely, Transaction } from 'kysely'
import type { Database, NewOutbox } from '../db/database.js'
import { DEFAULT_STATEMENT_BYTES } from '../db/statement-bytes.js'
import type { AnyDecider, CommandEvent, Decider, Verdict } from './decider.js'
import type { DecisionEvent, RefusalCode } from './decisions.js'
import { passGate } from './gate.js'
import { type InputEntry, type Produced, appendInputIfNew, appendInputs, appendProduced, insertChunked } from './event-log.js'
import { type AnyProjection, applyProjections } from './projection.js'
import { bumpReadVersions, scopesOf } from './read-versions.js'
import type { StoredEvent, StoredOf, StoredType } from './stored-event.js'

type Trx = Transaction<Database>

/** The deciders and projections every door goes through, in order (src/wiring.ts builds it). */
export interface Pipeline {
  readonly deciders: readonly AnyDecider[]
  readonly projections: readonly AnyProjection[]
}

export interface Applied {
  /** Verdict per input event id (inputs no decider handles have none: they are accepted). */
  verdicts: ReadonlyMap<string, Verdict>
  /** What the deciders produced, in log order. */
  produced: readonly Produced[]
}

function inputsFor<T extends StoredType>(d: Decider<T>, events: readonly StoredEvent[]): StoredOf<T>[] {
  const mine = new Set<string>(d.handles)
  return events.filter((e): e is StoredOf<T> => mine.has(e.type))
}

/** Each accepted input followed by what it caused; a rejected input is left out, its rejection decision is not. */
export function projectionStream(inputs: readonly { event: StoredEvent, caused: readonly StoredEvent[], rejected: boolean }[]): StoredEvent[] {
  return inputs.flatMap((i) => (i.rejected ? [...i.caused] : [i.event, ...i.caused]))
}

function merge(into: Map<string, Verdict>, more: ReadonlyMap<string, Verdict>): void {
  for (const [id, v] of more) {
    const had = into.get(id)
    const refused = had?.rejection !== undefined ? had : v
    into.set(id, had === undefined ? v : {
      decisions: [...had.decisions, ...v.decisions], commands: [...had.commands, ...v.commands],
      rejection: refused.rejection, rejectionCode: refused.rejectionCode, held: had.held === true || v.held === true,
      released: [...had.released ?? [], ...v.released ?? []],
    })
  }
}

/** Takes every decider's locks over the inputs it handles (before they are logged). */
export async function lockDeciders(trx: Trx, pipeline: Pipeline, events: readonly StoredEvent[]): Promise<void> {
  for (const d of pipeline.deciders) {
    const mine = inputsFor(d, events)
    if (mine.length > 0) await d.lock(trx, mine)
  }
}

/** Appends and applies new inputs (never logged before: the caller checked under its locks, after lockDeciders). */
export async function applyInputs(trx: Trx, inputs: readonly InputEntry[], pipeline: Pipeline, maxBytes = DEFAULT_STATEMENT_BYTES): Promise<Applied> {
  await appendInputs(trx, inputs, maxBytes)
  return applyAppended(trx, inputs.map((i) => i.event), pipeline, maxBytes)
}

/** Deciders, what they produced, then the projections; over inputs just appended to the log (after lockDeciders). */
export async function applyAppended(trx: Trx, events: readonly StoredEvent[], pipeline: Pipeline, maxBytes = DEFAULT_STATEMENT_BYTES): Promise<Applied> {
  const verdicts = new Map<string, Verdict>()
  for (const d of pipeline.deciders) {
    const mine = inputsFor(d, events)
    if (mine.length > 0) merge(verdicts, await d.decide(trx, mine))
  }
  const produced: Produced[] = []
  const item = (event: StoredEvent, v: Verdict | undefined): { event: StoredEvent, caused: (DecisionEvent | CommandEvent)[], rejected: boolean }[] => {
    const caused: (DecisionEvent | CommandEvent)[] = v === undefined ? [] : [...v.decisions, ...v.commands]
    for (const c of caused) produced.push({ event: c, cause: event.eventId })
    // A held input reaches the projections when it is released, right after the input that released it.
    const self = { event, caused, rejected: v?.rejection !== undefined || v?.held === true }
    return [self, ...(v?.released ?? []).flatMap((r) => item(r.event, r.verdict))]
  }
  const stream = events.flatMap((event) => item(event, verdicts.get(event.eventId)))
  // What was produced first, then the projections: their last statements write rows that every transaction of a
  // client or pool shares (a client's day, a pool's hour), which a concurrent applier waits for until this one commits.
  await appendProduced(trx, produced, maxBytes)
  await insertChunked(produced.filter(isCommand).map(outboxRow), maxBytes, (c) => trx.insertInto('outbox').values(c).execute())
  await applyProjections(trx, pipeline.projections, projectionStream(stream))
  // What the response cache validates against: one statement per batch, every scope an input or decision touched.
  await bumpReadVersions(trx, scopesOf(stream.flatMap((i) => [i.event, ...i.caused])))
  return { verdicts, produced }
}

const isCommand = (p: Produced): p is { event: CommandEvent, cause: string } => p.event.type.startsWith('command.')

function outboxRow(p: { event: CommandEvent, cause: string }): NewOutbox {
  const c = p.event
  return { command_id: c.eventId, type: c.type, client_id: c.clientId, agent_id: c.agentId, payload: JSON.stringify(c), cause_event_id: p.cause }
}

export interface SubmitResult {
  /** The event id was logged before: nothing was applied again. */
  duplicate: boolean
  /** Why a decider refused it (HTTP 409), or null. */
  rejection: string | null
  /** The refusal's code, when the decider gave one. */
  rejectionCode: RefusalCode | null
  decisions: DecisionEvent[]
  commands: CommandEvent[]
}

/**
 * The HTTP door: one input (a user request, or an agent.config_changed built
 * from a config form) appended with source 'http' and applied by the same
 * pipeline as consumed events, in one transaction. The caller has checked
 * that the agent belongs to the requesting client.
 */
export async function submitInput(db: Kysely<Database>, event: StoredEvent, pipeline: Pipeline): Promise<SubmitResult> {
  // READ COMMITTED, as in applyBatch: reads made after a decider's lock must see what the lock's previous holder committed.
  return db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    await passGate(trx)
    await lockDeciders(trx, pipeline, [event])
    const input: InputEntry = { event, source: 'http' }
    if (!(await appendInputIfNew(trx, input))) return { duplicate: true, rejection: null, rejectionCode: null, decisions: [], commands: [] }
    const { verdicts } = await applyAppended(trx, [event], pipeline)
    const v = verdicts.get(event.eventId)
    return { duplicate: false, rejection: v?.rejection ?? null, rejectionCode: v?.rejectionCode ?? null, decisions: [...v?.decisions ?? []], commands: [...v?.commands ?? []] }
  })
}
