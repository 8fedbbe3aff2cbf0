// Money normalisation and the pool id grammar, the two field rules every
// consumer and table depends on.
import t from 'tap'
import {
  AzSchema, MoneySchema, PoolIdSchema, azInRegion, normaliseMoney, parsePoolId,
} from '../../src/events/fields.js'

t.test('money: numbers and strings become canonical decimal strings', async (t) => {
  const cases: Array<[number | string, string]> = [
    [0.0345, '0.0345'], ['0.0345', '0.0345'], [0, '0'], [-0, '0'], ['0', '0'], ['0.000000', '0'],
    [1, '1'], ['1.500000', '1.5'], ['007.250', '7.25'], [0.000001, '0.000001'], ['0.000001', '0.000001'],
    [123.456789, '123.456789'], [999999999.999999, '999999999.999999'], ['999999999.999999', '999999999.999999'],
    ['12.3400000000', '12.34'], [4.5e-5, '0.000045'],
  ]
  for (const [input, expected] of cases) {
    t.same(normaliseMoney(input), { ok: true, value: expected }, `${typeof input} ${String(input)}`)
  }
  t.equal(MoneySchema.parse('0.096000'), '0.096')
  t.equal(MoneySchema.parse(0.096), '0.096')
})

t.test('money: refuses what would need rounding or is not a price', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [0.1 + 0.2, /at most 6 decimal places/], // 0.30000000000000004
    ['0.1234567', /at most 6 decimal places/], [1e-7, /at most 6 decimal places/],
    [1e9, /at most 9 integer digits/], ['1000000000', /at most 9 integer digits/], [1e21, /at most 9 integer digits/],
    [-0.01, /must not be negative/], ['-0.01', /must not be negative/], ['-0', /must not be negative/],
    [Number.NaN, /finite/], [Number.POSITIVE_INFINITY, /finite/],
    ['', /plain decimal/], ['1e-3', /plain decimal/], [' 1.5', /plain decimal/], ['1.', /plain decimal/],
    ['.5', /plain decimal/], ['+1', /plain decimal/], ['1,5', /plain decimal/], ['0x10', /plain decimal/],
    [true, /decimal number or string/], [null, /decimal number or string/],
  ]
  for (const [input, reason] of cases) {
    const r = normaliseMoney(input)
    t.equal(r.ok, false, `rejects ${typeof input} ${String(input)}`)
    if (!r.ok) t.match(r.reason, reason)
  }
  const bad = MoneySchema.safeParse(0.1 + 0.2)
  t.equal(bad.success, false)
  t.match(bad.error?.issues[0]?.message, /6 decimal places/)
  t.match(MoneySchema.safeParse(false).error?.issues[0]?.message, /decimal number or string/)
})

t.test('money: a normalised value normalises to itself', async (t) => {
  for (const v of ['0', '0.5', '12.000001', '999999999.999999']) t.same(normaliseMoney(v), { ok: true, value: v })
})

t.test('pool ids', async (t) => {
  for (const ok of ['m5.large.us-east-1a', 'c7i-flex.2xlarge.eu-central-1b', 'u-6tb1.metal.us-gov-west-1c', 'r6g.16xlarge.ap-southeast-2a', 't3.micro.us-west-2-lax-1a']) {
    t.ok(PoolIdSchema.safeParse(ok).success, ok)
  }
  for (const bad of ['m5.large', 'm5.us-east-1a', 'M5.large.us-east-1a', 'm5.large.us-east-1', 'm5.large.us-east-1aa', 'm5.large.useast1a', 'm5.large.us-east-1a ', `${'m'.repeat(120)}.large.us-east-1a`, '']) {
    t.notOk(PoolIdSchema.safeParse(bad).success, JSON.stringify(bad))
  }
  t.same(parsePoolId('m5.large.us-east-1a'), { instanceType: 'm5.large', az: 'us-east-1a', region: 'us-east-1' })
  t.same(parsePoolId('t3.micro.us-west-2-lax-1a'), { instanceType: 't3.micro', az: 'us-west-2-lax-1a', region: 'us-west-2' })
  t.equal(parsePoolId('nope'), null)
  t.ok(AzSchema.safeParse('us-east-1f').success)
  t.ok(azInRegion('us-east-1a', 'us-east-1'))
  t.notOk(azInRegion('us-east-10a', 'us-east-1'))
  t.notOk(azInRegion('us-west-1a', 'us-east-1'))
})
