// Field-level schemas shared by the event types in schemas.ts: ids, pool ids,
// timestamps, money, labels and free text. Each is built from its column's
// limit in limits.ts and registered there, so the columns test can walk every
// wire field to the columns it lands in.
import { z } from 'zod'
import { LIMITS, limited, type LimitName } from './limits.js'
import { normaliseMoney } from './money.js'

// DATETIME's range (1000-01-01 to 9999-12-31), checked after converting to
// UTC: 9999-12-31T23:00:00-05:00 is already year 10000 there.
const DATETIME_MIN = Date.UTC(1000, 0, 1)
const DATETIME_END = Date.UTC(10000, 0, 1)
export const IsoDateTimeSchema = limited(z.iso.datetime({ offset: true }).refine((s) => {
  const ms = Date.parse(s)
  return Number.isNaN(ms) || (ms >= DATETIME_MIN && ms < DATETIME_END) // NaN: the format check reports it
}, 'must be between years 1000 and 9999 in UTC'), 'timestamp')

const varchar = (limit: LimitName & ('instanceId' | 'logicalAgentId' | 'hostname' | 'agentStatus' | 'sourceType' | 'switchTrigger')) =>
  limited(z.string().min(1).max(LIMITS[limit].maxChars), limit)

export const UuidSchema = limited(z.uuid(), 'uuid')
export const ReplicaIdSchema = UuidSchema
// AWS ids look like `i-0abc...`, but simulated fleets and other clouds use other
// shapes, so only the length is pinned.
export const InstanceIdSchema = varchar('instanceId')
export const LogicalAgentIdSchema = varchar('logicalAgentId')
export const HostnameSchema = varchar('hostname')
/** What the agent says it is doing (`online`, `draining`, ...); an identifier, so too long is refused. */
export const AgentStatusSchema = varchar('agentStatus')
export const SourceTypeSchema = varchar('sourceType')
export const SwitchTriggerSchema = varchar('switchTrigger')
/** A command's reason travels in the command's payload only. */
export const CommandReasonSchema = limited(z.string().min(1).max(LIMITS.commandReason.maxChars), 'commandReason')

/** Cuts `s` to `max` characters as the database counts them (code points), never inside a surrogate pair. */
export function truncateChars(s: string, max: number): string {
  if (s.length <= max) return s
  const points = Array.from(s)
  return points.length <= max ? s : points.slice(0, max).join('')
}

// Free text is never a reason to refuse an event (a replica.terminated refused
// for its reason would leave the replica live for good): any string, cut to
// what the column holds.
const freeText = (limit: 'terminationReason' | 'replicaError') =>
  limited(z.string().transform((s) => truncateChars(s, LIMITS[limit].maxChars)), limit)
export const TerminationReasonSchema = freeText('terminationReason')
export const ReplicaErrorSchema = freeText('replicaError')

// Family and size, e.g. `m5.large`, `c7i-flex.2xlarge`, `u-6tb1.metal`.
const INSTANCE_TYPE = '[a-z][a-z0-9-]*\\.[a-z0-9-]+'
// Region is `<geo>(-<word>)+-<n>`: us-east-1, us-gov-west-1, ap-southeast-2.
const REGION = '[a-z]{2}(?:-[a-z]+)+-\\d+'
// What follows the region in an AZ: a letter (us-east-1a), a Local Zone and a
// letter (us-west-2-lax-1a), or a Wavelength Zone (us-east-1-wl1-bos-wlz-1).
const AZ_SUFFIX = '(?:(?:-[a-z]+-\\d+)?[a-z]|-wl\\d+-[a-z]+-wlz-\\d+)'
const AZ_SUFFIX_RE = new RegExp(`^${AZ_SUFFIX}$`)
// The capture groups are what parsePoolId returns.
const POOL_ID_RE = new RegExp(`^(${INSTANCE_TYPE})\\.((${REGION})${AZ_SUFFIX})$`)

export const InstanceTypeSchema = limited(z.string().max(LIMITS.instanceType.maxChars)
  .regex(new RegExp(`^${INSTANCE_TYPE}$`), 'expected an instance type like m5.large'), 'instanceType')
export const RegionSchema = limited(z.string().max(LIMITS.region.maxChars)
  .regex(new RegExp(`^${REGION}$`), 'expected a region like us-east-1'), 'region')
export const AzSchema = limited(z.string().max(LIMITS.az.maxChars)
  .regex(new RegExp(`^${REGION}${AZ_SUFFIX}$`), 'expected an availability zone like us-east-1a'), 'az')
/**
 * `<instance_type>.<az>`, e.g. `m5.large.us-east-1a`; the pool key everywhere.
 * Its parts are stored in their own columns too, so each must fit its own.
 */
export const PoolIdSchema = limited(z.string().max(LIMITS.poolId.maxChars)
  .regex(POOL_ID_RE, 'expected a pool id like m5.large.us-east-1a')
  .refine((s) => !POOL_ID_RE.test(s) || parsePoolId(s) !== null,
    `instance type and az must fit ${LIMITS.instanceType.maxChars} and ${LIMITS.az.maxChars} characters`), 'poolId')

/** True when `az` is an AZ of `region` (us-east-1a of us-east-1, not of us-east-10). */
export function azInRegion(az: string, region: string): boolean {
  return az.startsWith(region) && AZ_SUFFIX_RE.test(az.slice(region.length))
}

export interface PoolIdParts { instanceType: string; az: string; region: string }

/** Splits a pool id into its parts, or returns null when it is not one. */
export function parsePoolId(poolId: string): PoolIdParts | null {
  if (poolId.length > LIMITS.poolId.maxChars) return null
  const m = POOL_ID_RE.exec(poolId)
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return null
  if (m[2].length > LIMITS.az.maxChars || m[1].length > LIMITS.instanceType.maxChars) return null
  return { instanceType: m[1], az: m[2], region: m[3] }
}

export { normaliseMoney, type MoneyResult } from './money.js'

/** Non-negative money; input number | string, output canonical decimal string. */
export const MoneySchema = limited(z
  .union([z.number(), z.string()], { error: 'expected a decimal number or string' })
  .transform((value, ctx) => {
    const r = normaliseMoney(value)
    if (r.ok) return r.value
    ctx.issues.push({ code: 'custom', message: r.reason, input: value })
    return z.NEVER
  }), 'money')

export const ModeSchema = limited(z.enum(LIMITS.mode.values), 'mode')
export const ReplicaTypeSchema = limited(z.enum(LIMITS.replicaType.values), 'replicaType')
export const SyncStatusSchema = limited(z.enum(LIMITS.syncStatus.values), 'syncStatus')
export const SwitchTargetSchema = limited(z.enum(LIMITS.switchTarget.values), 'switchTarget')
export const FlagSchema = limited(z.boolean(), 'flag')

export const PercentSchema = limited(z.number().min(LIMITS.percent.min).max(LIMITS.percent.max), 'percent')
export const LatencyMsSchema = limited(z.int().min(LIMITS.latencyMs.min).max(LIMITS.latencyMs.max), 'latencyMs')
export const WaitMinutesSchema = limited(z.int().min(LIMITS.waitMinutes.min).max(LIMITS.waitMinutes.max), 'waitMinutes')
/** Counts since the previous sample; agents may report rates with fractions, rounded on the way in. */
export const CounterSchema = limited(z.number().min(LIMITS.counter.min).max(LIMITS.counter.max), 'counter')
