// The pool id grammar (AWS, Local Zone and Wavelength AZs) and free text cut
// to its column; money has its own file (money.test.ts).
import t from 'tap'
import {
  AzSchema, PoolIdSchema, ReplicaErrorSchema, TerminationReasonSchema, azInRegion, parsePoolId, truncateChars,
} from '../../src/events/fields.js'

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

t.test('Local Zone and Wavelength Zone names are AZs, in pool ids too', async (t) => {
  const zones: Array<[string, string]> = [
    ['us-west-2-lax-1a', 'us-west-2'], ['us-west-2-lax-1b', 'us-west-2'], ['us-east-1-bos-1a', 'us-east-1'],
    ['us-west-2-phx-2a', 'us-west-2'], ['ap-southeast-1-bkk-1a', 'ap-southeast-1'],
    ['us-east-1-wl1-bos-wlz-1', 'us-east-1'], ['us-west-2-wl1-sfo-wlz-1', 'us-west-2'],
    ['ap-northeast-1-wl1-nrt-wlz-1', 'ap-northeast-1'], ['eu-west-2-wl1-lon-wlz-1', 'eu-west-2'],
  ]
  for (const [az, region] of zones) {
    t.ok(AzSchema.safeParse(az).success, `az ${az}`)
    t.ok(azInRegion(az, region), `${az} in ${region}`)
    t.notOk(azInRegion(az, 'eu-central-1'), `${az} not in eu-central-1`)
    const poolId = `t3.medium.${az}`
    t.ok(PoolIdSchema.safeParse(poolId).success, `pool ${poolId}`)
    t.same(parsePoolId(poolId), { instanceType: 't3.medium', az, region })
  }
  for (const bad of ['us-east-1-wl1-bos-wlz', 'us-east-1-wl1-bos-wlz-1a', 'us-east-1-wlz-1', 'us-east-1-bos-1', 'us-east-1-bos1a']) {
    t.notOk(AzSchema.safeParse(bad).success, `not an az: ${bad}`)
    t.notOk(PoolIdSchema.safeParse(`t3.medium.${bad}`).success, `not a pool: t3.medium.${bad}`)
  }
  // The longest names fit their columns: az VARCHAR(32), pool id VARCHAR(128).
  t.notOk(AzSchema.safeParse(`us-east-1-wl1-${'b'.repeat(20)}-wlz-1`).success, 'an az over 32 characters')
})

t.test('free text is cut to its column, by characters, never refused for its length', async (t) => {
  t.equal(TerminationReasonSchema.parse('spot reclaimed'), 'spot reclaimed')
  t.equal(TerminationReasonSchema.parse(''), '', 'an empty reason still ends the replica')
  t.equal(TerminationReasonSchema.parse('x'.repeat(300)), 'x'.repeat(255))
  t.equal(TerminationReasonSchema.parse('x'.repeat(255)), 'x'.repeat(255))
  // 300 emoji are 600 UTF-16 units; the column counts 255 characters and a pair is never split.
  t.equal(TerminationReasonSchema.parse('😀'.repeat(300)), '😀'.repeat(255))
  t.equal(TerminationReasonSchema.parse('é'.repeat(254) + '😀😀'), 'é'.repeat(254) + '😀')
  t.equal(ReplicaErrorSchema.parse('e'.repeat(10_000)).length, 4096)
  t.equal(truncateChars('a😀b', 2), 'a😀')
  t.notOk(TerminationReasonSchema.safeParse(42).success, 'not text at all is still refused')
})
