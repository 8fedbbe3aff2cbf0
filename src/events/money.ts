// Money from the wire: a JSON number or a decimal string in, the canonical
// decimal string of a DECIMAL(12,6) out (limits.ts). Real agents serialise
// floats, so 0.034999999999999996 and 0.1 + 0.2 arrive and must be taken as
// the prices they mean: the value is rounded half-even to the column's 6
// places, on its decimal text, never through float arithmetic. Refused is
// only what is not a price: negative, not finite, or beyond the column.
import { LIMITS } from './limits.js'

const { precision: PRECISION, scale: SCALE } = LIMITS.money
const INTEGER_DIGITS = PRECISION - SCALE
const LIMIT_TEXT = `1${'0'.repeat(INTEGER_DIGITS)}`

export type MoneyResult = { ok: true; value: string } | { ok: false; reason: string }

const refuse = (reason: string): MoneyResult => ({ ok: false, reason })

/** Text already canonical and within the column (what the log holds: every replayed price): rounding would give it back unchanged. */
const CANONICAL = new RegExp(`^(?:0|[1-9]\\d{0,${INTEGER_DIGITS - 1}})(?:\\.\\d{0,${SCALE - 1}}[1-9])?$`)

/**
 * Canonical form: no sign, no exponent, no leading zeros, no trailing
 * fractional zeros ("0.0345", "12", "0"). A number is read through its
 * shortest round-trip text (String(n)), exponent included, so the digits the
 * sender's float printed are the digits rounded.
 */
export function normaliseMoney(input: unknown): MoneyResult {
  let text: string
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return refuse('must be a finite number')
    if (input < 0) return refuse('must not be negative')
    text = expandExponent(String(input)) // -0 prints as "0"
  } else if (typeof input === 'string') {
    if (CANONICAL.test(input)) return { ok: true, value: input }
    if (input.startsWith('-')) return refuse('must not be negative')
    text = input
  } else {
    return refuse('expected a decimal number or string')
  }
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text)
  if (!m || m[1] === undefined) return refuse('expected a plain decimal like "0.0345"')
  const { int, frac } = roundHalfEven(m[1], m[2] ?? '', SCALE)
  if (int.length > INTEGER_DIGITS) return refuse(`must be less than ${LIMIT_TEXT} (DECIMAL(${PRECISION},${SCALE}))`)
  return { ok: true, value: frac ? `${int}.${frac}` : int }
}

/** "1.5e-7" -> "0.00000015", "1e+21" -> "1000000000000000000000"; plain text unchanged. */
function expandExponent(text: string): string {
  const m = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/i.exec(text)
  if (!m || m[1] === undefined || m[3] === undefined) return text
  const digits = m[1] + (m[2] ?? '')
  const point = m[1].length + Number(m[3])
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length)
  return `${digits.slice(0, point)}.${digits.slice(point)}`
}

/** Rounds int.frac to `scale` places, ties to even; no leading integer zeros, no trailing fractional zeros. */
function roundHalfEven(int: string, frac: string, scale: number): { int: string, frac: string } {
  let digits = int + frac.slice(0, scale).padEnd(scale, '0')
  // What is cut off, compared as text with "5": above is "51", "6"; a tie is exactly "5".
  const rest = frac.slice(scale).replace(/0+$/, '')
  const lastOdd = Number(digits.at(-1)) % 2 === 1
  const up = rest > '5' || (rest === '5' && lastOdd)
  if (up) digits = increment(digits)
  const cut = digits.length - scale
  return { int: digits.slice(0, cut).replace(/^0+(?=\d)/, ''), frac: digits.slice(cut).replace(/0+$/, '') }
}

/** Adds one to a string of decimal digits ("0999" -> "1000", "99" -> "100"). */
function increment(digits: string): string {
  let i = digits.length - 1
  while (i >= 0 && digits[i] === '9') i--
  if (i < 0) return `1${'0'.repeat(digits.length)}`
  return digits.slice(0, i) + String(Number(digits[i]) + 1) + '0'.repeat(digits.length - 1 - i)
}
