// Turns a Kafka message value (or a stored event's JSON) into a version-1
// SpotEvent, or into a one-line reason fit for the dead-letter table. Older
// versions are upcast step by step before validation, so the rules and the
// projections only ever see the current shape. Never throws: a message that
// cannot be read is data to park, not an error to crash the consumer on.
import type { z } from 'zod'
import { EnvelopeSchema, EventSchema, isEventType, type EventType, type SpotEvent } from './schemas.js'

export type ParseResult = { ok: true; event: SpotEvent } | { ok: false; reason: string }
export type RawEvent = Record<string, unknown>
/** Turns a raw payload of version N into the raw payload of version N + 1. */
export type Upcaster = (raw: RawEvent) => RawEvent

/** The version each type is produced at today, read off the schemas. */
export const CURRENT_VERSION: Readonly<Record<EventType, number>> = Object.freeze(
  Object.fromEntries(EventSchema.options.map((o) => [o.shape.type.value, o.shape.version.value])) as Record<EventType, number>,
)

/**
 * Keyed by `${type}@${fromVersion}`. Each step only has to know its neighbour;
 * parseMessage chains them and stamps the new version on the result, so an
 * upcaster cannot leave a payload claiming its old version.
 */
export const upcasters: Record<string, Upcaster> = {
  // Version 0 agents sent the pool as `pool` and the deadline as unix seconds.
  'spot.termination_notice@0': (raw) => {
    const { pool, terminationTimeEpochSec, ...rest } = asRecord(raw['data'])
    const ms = typeof terminationTimeEpochSec === 'number' ? terminationTimeEpochSec * 1000 : Number.NaN
    // Outside Date's range toISOString throws; leave the field out and let
    // validation report it as missing.
    const terminationTime = Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : undefined
    return { ...raw, data: { poolId: pool, terminationTime, ...rest } }
  },
}

const MAX_REASON = 1000
const MAX_ISSUES = 8

const utf8 = new TextDecoder('utf-8', { fatal: true })

export function parseMessage(value: Buffer | string | null): ParseResult {
  if (value === null) return fail('invalid JSON: empty message value')
  let json: unknown
  try {
    json = JSON.parse(typeof value === 'string' ? value : utf8.decode(value))
  } catch (err) {
    return fail(`invalid JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
  return parseEventObject(json)
}

/** The same checks for a payload that is already decoded (e.g. a replayed event_log row). */
export function parseEventObject(json: unknown): ParseResult {
  try {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      return fail(`schema: (root): expected an event object, received ${Array.isArray(json) ? 'array' : json === null ? 'null' : typeof json}`)
    }
    let raw = json as RawEvent
    const { type, version } = raw
    if (typeof type !== 'string' || typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
      // Without a type and version no event schema applies; report the whole
      // envelope so the reason shows everything that is wrong at once.
      const env = EnvelopeSchema.safeParse(raw)
      return fail(`schema: ${env.success ? 'type or version missing' : renderIssues(env.error.issues)}`)
    }
    if (!isEventType(type)) return fail(`unknown event type ${JSON.stringify(clip(type, 100))}`)
    const current = CURRENT_VERSION[type]
    if (version > current) return fail(`unsupported version ${version} of ${type}`)
    for (let v = version; v < current; v++) {
      const up = upcasters[`${type}@${v}`]
      if (!up) return fail(`unsupported version ${version} of ${type}`)
      raw = { ...up(raw), version: v + 1 }
    }
    const parsed = EventSchema.safeParse(raw)
    if (!parsed.success) return fail(`schema: ${renderIssues(parsed.error.issues)}`)
    return { ok: true, event: parsed.data }
  } catch (err) {
    // Only an upcaster can get here; it is still the message's fault.
    return fail(`schema: upcast failed: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/** `occurredAt: Invalid ISO datetime; data.poolId: required` */
export function renderIssues(issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.slice(0, MAX_ISSUES).map((i) => `${renderPath(i.path)}: ${renderMessage(i)}`)
  if (issues.length > MAX_ISSUES) parts.push(`(${issues.length - MAX_ISSUES} more)`)
  return parts.join('; ')
}

// zod's defaults are written for forms; a dead-letter row wants them short.
function renderMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return 'required'
  return issue.message.replace(/^Invalid input: /, '')
}

function renderPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)'
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('')
}

function asRecord(v: unknown): RawEvent {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as RawEvent) : {}
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s
}

function fail(reason: string): ParseResult {
  return { ok: false, reason: clip(reason, MAX_REASON) }
}
