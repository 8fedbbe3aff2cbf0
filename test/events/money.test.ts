// Money as real producers send it: floats printed by JSON.stringify
// (0.1 + 0.2, 0.034999999999999996, 1e-7), decimal strings with more places
// than DECIMAL(12,6) keeps, values at the column's limit and over it. Rounded
// half-even to 6 places on the decimal text; refused only when not a price.
import fc from 'fast-check'
import t from 'tap'
import { MoneySchema, normaliseMoney } from '../../src/events/fields.js'

const ok = (value: string) => ({ ok: true, value })

t.test('floats and long decimals are rounded half-even to 6 places', async (t) => {
  const cases: Array<[number | string, string]> = [
    [0.0345, '0.0345'], ['0.0345', '0.0345'], [0, '0'], [-0, '0'], ['0', '0'], ['0.000000', '0'], [1, '1'],
    ['1.500000', '1.5'], ['007.250', '7.25'], [0.000001, '0.000001'], [4.5e-5, '0.000045'], ['12.3400000000', '12.34'],
    [0.1 + 0.2, '0.3'], // 0.30000000000000004
    [0.034999999999999996, '0.035'],
    [1.2345678901234567, '1.234568'],
    [1e-7, '0'], [4e-7, '0'], [6e-7, '0.000001'], [1.5e-7, '0'],
    // Ties go to the even neighbour.
    [5e-7, '0'], ['0.0000005', '0'], [1.5e-6, '0.000002'], ['0.0000015', '0.000002'], [2.5e-6, '0.000002'],
    ['0.0000025', '0.000002'], ['0.0000035', '0.000004'], ['0.00000050000001', '0.000001'], ['0.12345649999', '0.123456'],
    ['0.1234565', '0.123456'], ['0.1234575', '0.123458'], ['0.9999995', '1'], ['9.9999999', '10'],
    // The column's limit: DECIMAL(12,6) holds 999999.999999.
    [999999.999999, '999999.999999'], ['999999.999999', '999999.999999'], ['0999999.9999994', '999999.999999'],
    [999999.9999994, '999999.999999'], ['999999.99999949999', '999999.999999'],
  ]
  for (const [input, expected] of cases) t.same(normaliseMoney(input), ok(expected), `${typeof input} ${JSON.stringify(input)}`)
  t.equal(MoneySchema.parse(0.034999999999999996), '0.035')
  t.equal(MoneySchema.parse('0.096000'), '0.096')
  // What a float-printing agent actually puts on the wire.
  t.equal(MoneySchema.parse(JSON.parse(JSON.stringify({ p: 0.1 + 0.2 })).p), '0.3')
})

t.test('refused: negative, not finite, beyond DECIMAL(12,6), not a decimal', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [1e6, /less than 1000000/], ['1000000', /less than 1000000/], [999999.9999995, /less than 1000000/],
    ['999999.9999995', /less than 1000000/], ['999999.99999951', /less than 1000000/], [1e9, /less than 1000000/],
    [1e21, /less than 1000000/], [1.7976931348623157e308, /less than 1000000/],
    [-0.01, /must not be negative/], ['-0.01', /must not be negative/], ['-0', /must not be negative/], [-1e-9, /must not be negative/],
    [Number.NaN, /finite/], [Number.POSITIVE_INFINITY, /finite/], [Number.NEGATIVE_INFINITY, /finite/],
    ['', /plain decimal/], ['1e-3', /plain decimal/], [' 1.5', /plain decimal/], ['1.', /plain decimal/],
    ['.5', /plain decimal/], ['+1', /plain decimal/], ['1,5', /plain decimal/], ['0x10', /plain decimal/], ['NaN', /plain decimal/],
    [true, /decimal number or string/], [null, /decimal number or string/],
  ]
  for (const [input, reason] of cases) {
    const r = normaliseMoney(input)
    t.equal(r.ok, false, `refuses ${typeof input} ${String(input)}`)
    if (!r.ok) t.match(r.reason, reason)
  }
  t.match(MoneySchema.safeParse(1e6).error?.issues[0]?.message, /less than 1000000 \(DECIMAL\(12,6\)\)/)
  t.match(MoneySchema.safeParse(false).error?.issues[0]?.message, /decimal number or string/)
})

// An independent oracle: the same rounding done on BigInt micro-units.
function oracle(int: string, frac: string): string | null {
  const scaled = BigInt(int + frac) // value * 10^frac.length
  const shift = frac.length - 6
  let micros: bigint
  if (shift <= 0) micros = scaled * 10n ** BigInt(-shift)
  else {
    const d = 10n ** BigInt(shift)
    const q = scaled / d
    const r = scaled % d
    micros = 2n * r > d || (2n * r === d && q % 2n === 1n) ? q + 1n : q
  }
  if (micros >= 1_000_000n * 1_000_000n) return null
  const whole = (micros / 1_000_000n).toString()
  const part = (micros % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '')
  return part ? `${whole}.${part}` : whole
}

t.test('property: decimal strings round as BigInt arithmetic does (seeded)', async (t) => {
  const seed = 20261201
  const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max })
  const r = fc.check(fc.property(digits(1, 8), digits(0, 14), (int, frac) => {
    const expected = oracle(int, frac)
    const got = normaliseMoney(frac ? `${int}.${frac}` : int)
    return expected === null ? !got.ok : got.ok && got.value === expected
  }), { seed, numRuns: 2000 })
  t.notOk(r.failed, `seed ${seed}: ${r.counterexample === null ? '' : JSON.stringify(r.counterexample)}`)
})

t.test('property: a float price lands within half a micro-dollar of itself (seeded)', async (t) => {
  const seed = 424242
  const r = fc.check(fc.property(fc.double({ min: 0, max: 999999.9999994, noNaN: true }), (x) => {
    const got = normaliseMoney(x)
    return got.ok && Math.abs(Number(got.value) - x) <= 5e-7 + Math.abs(x) * Number.EPSILON && /^\d+(\.\d{1,6})?$/.test(got.value)
  }), { seed, numRuns: 2000 })
  t.notOk(r.failed, `seed ${seed}: ${r.counterexample === null ? '' : JSON.stringify(r.counterexample)}`)
})
