/**
 * Exact fixed-point arithmetic for the read models: money and hours as
 * integer millionths (BigInt), the scale of the DECIMAL(…,6) columns. Every
 * rounding is half away from zero, as MariaDB/MySQL ROUND() does on DECIMAL,
 * so the projections and the stored procedures agree to the last digit.
 */

export const MICRO = 1_000_000n
const MS_PER_HOUR = 3_600_000

/** "0.0345", "12", "0.034500" (a DECIMAL read back) -> 34500n. More than 6 decimals is a bug upstream. */
export function toMicro(decimal: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{0,6})0*)?$/.exec(decimal.trim())
  if (!m) throw new Error(`not a decimal with at most 6 places: ${decimal}`)
  const v = BigInt(m[2]!) * MICRO + BigInt((m[3] ?? '').padEnd(6, '0'))
  return m[1] === '-' ? -v : v
}

/** 34500n -> "0.0345"; canonical (no trailing zeros), sign kept. */
export function fromMicro(v: bigint): string {
  return fromScaled(v, 6)
}

/** A value scaled by 10^12 (a product of two micro values) -> decimal text, as DECIMAL(…,12) holds it. */
export function fromPico(v: bigint): string {
  return fromScaled(v, 12)
}

function fromScaled(v: bigint, digits: number): string {
  const neg = v < 0n
  const abs = neg ? -v : v
  const unit = 10n ** BigInt(digits)
  const frac = (abs % unit).toString().padStart(digits, '0').replace(/0+$/, '')
  return `${neg ? '-' : ''}${abs / unit}${frac ? `.${frac}` : ''}`
}

/** a / b rounded half away from zero (b > 0). */
export function divRound(a: bigint, b: bigint): bigint {
  const q = (2n * (a < 0n ? -a : a) + b) / (2n * b)
  return a < 0n ? -q : q
}

/** Micro-values multiplied: round(a × b, 6 places). */
export function mulMicro(a: bigint, b: bigint): bigint {
  return divRound(a * b, MICRO)
}

/** Milliseconds -> hours in micro-hours, rounded (one micro-hour is 3.6 ms). */
export function hoursMicroOfMs(ms: number): bigint {
  return divRound(BigInt(ms) * MICRO, BigInt(MS_PER_HOUR))
}
