// Field-level schemas shared by the event types in schemas.ts: ids, pool ids,
// timestamps and money. Kept apart so that the HTTP layer and the database edge
// can validate the same values the same way without pulling in every event.
import { z } from 'zod'

export const IsoDateTimeSchema = z.iso.datetime({ offset: true })

// AWS ids look like `i-0abc...`, but simulated fleets and other clouds use other
// shapes, so only the length is pinned (it has to fit a VARCHAR(64) column).
export const InstanceIdSchema = z.string().min(1).max(64)
export const ReplicaIdSchema = z.uuid()

// Family and size, e.g. `m5.large`, `c7i-flex.2xlarge`, `u-6tb1.metal`.
const INSTANCE_TYPE = '[a-z][a-z0-9-]*\\.[a-z0-9-]+'
// Region is `<geo>(-<word>)+-<n>`: us-east-1, us-gov-west-1, ap-southeast-2.
const REGION = '[a-z]{2}(?:-[a-z]+)+-\\d+'
// An AZ is its region plus a letter, optionally with a Local Zone part in
// between (us-west-2-lax-1a); the capture groups are what parsePoolId returns.
const POOL_ID_RE = new RegExp(`^(${INSTANCE_TYPE})\\.((${REGION})(?:-[a-z]+-\\d+)?[a-z])$`)

export const InstanceTypeSchema = z.string().max(64).regex(new RegExp(`^${INSTANCE_TYPE}$`), 'expected an instance type like m5.large')
export const RegionSchema = z.string().max(32).regex(new RegExp(`^${REGION}$`), 'expected a region like us-east-1')
export const AzSchema = z.string().max(40).regex(new RegExp(`^${REGION}(?:-[a-z]+-\\d+)?[a-z]$`), 'expected an availability zone like us-east-1a')
/** `<instance_type>.<az>`, e.g. `m5.large.us-east-1a`; the pool key everywhere (VARCHAR(128)). */
export const PoolIdSchema = z.string().max(128).regex(POOL_ID_RE, 'expected a pool id like m5.large.us-east-1a')

/** True when `az` is an AZ of `region` (us-east-1a of us-east-1, not of us-east-10). */
export function azInRegion(az: string, region: string): boolean {
  return az.startsWith(region) && /^(?:-[a-z]+-\d+)?[a-z]$/.test(az.slice(region.length))
}

export interface PoolIdParts { instanceType: string; az: string; region: string }

/** Splits a pool id into its parts, or returns null when it is not one. */
export function parsePoolId(poolId: string): PoolIdParts | null {
  if (poolId.length > 128) return null
  const m = POOL_ID_RE.exec(poolId)
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return null
  return { instanceType: m[1], az: m[2], region: m[3] }
}

export const MONEY_MAX_FRACTION_DIGITS = 6
// Nine integer digits fit DECIMAL(15,6), and every number with at most 15
// significant digits survives the trip through a double exactly, so a JSON
// number inside these bounds is never silently rounded.
export const MONEY_MAX_INTEGER_DIGITS = 9

export type MoneyResult = { ok: true; value: string } | { ok: false; reason: string }

/**
 * Money arrives as a JSON number or a decimal string and leaves as a canonical
 * decimal string: no sign, no exponent, no leading zeros, no trailing
 * fractional zeros ("0.0345", "12", "0"). A number is read through its
 * shortest round-trip text (String(n)), never through arithmetic, so the
 * digits the sender wrote are the digits stored. Anything that would need
 * rounding (more than 6 decimals after trimming zeros, 0.1 + 0.2) is refused
 * rather than rounded: a price is a fact and we do not invent digits.
 */
export function normaliseMoney(input: unknown): MoneyResult {
  let text: string
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, reason: 'must be a finite number' }
    if (input < 0) return { ok: false, reason: 'must not be negative' }
    text = String(input) // -0 prints as "0"
    // String() switches to exponent form below 1e-6 and from 1e21, both
    // outside the precision and range allowed anyway.
    if (/e/i.test(text)) return { ok: false, reason: outOfRange(input < 1) }
  } else if (typeof input === 'string') {
    if (input.startsWith('-')) return { ok: false, reason: 'must not be negative' }
    text = input
  } else {
    return { ok: false, reason: 'expected a decimal number or string' }
  }
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text)
  if (!m || m[1] === undefined) return { ok: false, reason: 'expected a plain decimal like "0.0345"' }
  const int = m[1].replace(/^0+(?=\d)/, '')
  const frac = (m[2] ?? '').replace(/0+$/, '')
  if (frac.length > MONEY_MAX_FRACTION_DIGITS) return { ok: false, reason: outOfRange(true) }
  if (int.length > MONEY_MAX_INTEGER_DIGITS) return { ok: false, reason: outOfRange(false) }
  return { ok: true, value: frac ? `${int}.${frac}` : int }
}

function outOfRange(tooPrecise: boolean): string {
  return tooPrecise
    ? `must have at most ${MONEY_MAX_FRACTION_DIGITS} decimal places`
    : `must have at most ${MONEY_MAX_INTEGER_DIGITS} integer digits`
}

/** Non-negative money; input number | string, output canonical decimal string. */
export const MoneySchema = z
  .union([z.number(), z.string()], { error: 'expected a decimal number or string' })
  .transform((value, ctx) => {
    const r = normaliseMoney(value)
    if (r.ok) return r.value
    ctx.issues.push({ code: 'custom', message: r.reason, input: value })
    return z.NEVER
  })

export const ModeSchema = z.enum(['spot', 'on-demand'])
export const ReplicaTypeSchema = z.enum(['manual', 'automatic-rebalance', 'automatic-termination'])
export const SyncStatusSchema = z.enum(['initializing', 'syncing', 'synced', 'out-of-sync'])

// Free-text fields are bounded so one bad agent cannot bloat the event log.
export const LabelSchema = z.string().min(1).max(128)
export const TextSchema = z.string().min(1).max(4096)
export const PercentSchema = z.number().min(0).max(100)
export const NonNegativeSchema = z.number().nonnegative()
