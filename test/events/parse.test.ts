// parseMessage: one class of reason per way a message can be unreadable, the
// version-0 termination notice upcaster, and no throw whatever comes in.
import t from 'tap'
import { CURRENT_VERSION, parseEventObject, parseMessage, upcasters } from '../../src/events/parse.js'
import { EVENT_TYPES } from '../../src/events/schemas.js'
import { EXAMPLES, example } from './fixtures/examples.js'

const json = (v: unknown) => JSON.stringify(v)

t.test('every example parses from a Buffer and from a string', async (t) => {
  for (const type of EVENT_TYPES) {
    const text = json(EXAMPLES[type])
    const fromBuffer = parseMessage(Buffer.from(text))
    t.ok(fromBuffer.ok, type)
    t.same(parseMessage(text), fromBuffer)
  }
  t.same(CURRENT_VERSION['spot.termination_notice'], 1)
  t.ok(EVENT_TYPES.every((type) => CURRENT_VERSION[type] === 1))
})

t.test('reasons', async (t) => {
  const reason = (v: Buffer | string | null) => {
    const r = parseMessage(v)
    return r.ok ? 'ok' : r.reason
  }
  t.match(reason(null), /^invalid JSON: /)
  t.match(reason(''), /^invalid JSON: /)
  t.match(reason('{"eventId":'), /^invalid JSON: /)
  t.match(reason(Buffer.from([0x7b, 0xff, 0x7d])), /^invalid JSON: /, 'not UTF-8')

  t.equal(reason('42'), 'schema: (root): expected an event object, received number')
  t.equal(reason('[]'), 'schema: (root): expected an event object, received array')
  t.equal(reason('null'), 'schema: (root): expected an event object, received null')
  t.match(reason('{}'), /^schema: eventId: .*; type: .*; version: .*; occurredAt: .*; clientId: .*; agentId: /)
  t.match(reason(json({ ...example('replica.ready'), version: '1' })), /^schema: version: /)
  t.match(reason(json({ ...example('replica.ready'), version: -1 })), /^schema: version: /)
  t.match(reason(json({ ...example('replica.ready'), agentId: 'me' })), /^schema: agentId: Invalid UUID$/)
  const bad = example('spot.termination_notice')
  t.equal(
    reason(json({ ...bad, occurredAt: 'now', data: { ...bad.data, poolId: 'x' } })),
    'schema: occurredAt: Invalid ISO datetime; data.poolId: expected a pool id like m5.large.us-east-1a',
  )

  t.equal(reason(json({ ...example('replica.ready'), type: 'replica.exploded' })), 'unknown event type "replica.exploded"')
  t.equal(reason(json({ ...example('replica.ready'), type: 'x"y' })), 'unknown event type "x\\"y"')
  t.equal(reason(json({ ...example('replica.ready'), version: 2 })), 'unsupported version 2 of replica.ready')
  t.equal(reason(json({ ...example('replica.ready'), version: 0 })), 'unsupported version 0 of replica.ready', 'no upcaster')
})

t.test('reasons stay short', async (t) => {
  const r = parseMessage(json({ ...example('replica.ready'), type: 'y'.repeat(10_000) }))
  t.equal(r.ok, false)
  if (!r.ok) t.ok(r.reason.length < 200, `length ${r.reason.length}`)
  const e = example('instance.metrics')
  const many = parseMessage(json({ ...e, data: Object.fromEntries(['instanceId', 'cpu', 'memory', 'networkIn', 'networkOut', 'diskIo'].map((k) => [k, -1])) }))
  t.match(many.ok ? '' : many.reason, /^schema: data\.instanceId: .*; data\.diskIo: [^;]*$/, 'one clause per issue')
})

t.test('never throws', async (t) => {
  const inputs: Array<Buffer | string | null> = [
    '"str"', 'true', '{"type":null}', '{"type":"spot.termination_notice","version":0}',
    '{"type":"spot.termination_notice","version":0,"data":null}',
    '{"type":"spot.termination_notice","version":0,"data":{"terminationTimeEpochSec":1e300}}',
    '{"__proto__":{"type":"replica.ready"}}', Buffer.alloc(0), '1e999',
  ]
  for (const input of inputs) {
    t.doesNotThrow(() => parseMessage(input))
    t.equal(parseMessage(input).ok, false, String(input))
  }
})

t.test('version 0 termination notice is upcast to version 1', async (t) => {
  const v1 = example('spot.termination_notice')
  const v0 = {
    ...v1,
    version: 0,
    data: { instanceId: v1.data.instanceId, pool: 'm5.large.us-east-1a', terminationTimeEpochSec: 1795543320 },
  }
  const r = parseMessage(json(v0))
  t.ok(r.ok, r.ok ? '' : r.reason)
  if (!r.ok || r.event.type !== 'spot.termination_notice') return
  t.equal(r.event.version, 1)
  t.same(r.event.data, { instanceId: v1.data.instanceId, poolId: 'm5.large.us-east-1a', terminationTime: '2026-11-24T18:02:00.000Z' })
  t.equal(r.event.eventId, v1.eventId, 'the envelope is kept')

  const noTime = parseEventObject({ ...v0, data: { ...v0.data, terminationTimeEpochSec: 'soon' } })
  t.same(noTime, { ok: false, reason: 'schema: data.terminationTime: required' })
  const noPool = parseEventObject({ ...v0, data: { instanceId: 'i-1', terminationTimeEpochSec: 1 } })
  t.match(noPool.ok ? '' : noPool.reason, /^schema: data\.poolId: /)
  t.ok(upcasters['spot.termination_notice@0'])
})

t.test('upcasters chain and a throwing one is a reason, not a crash', async (t) => {
  // replica.ready has no version 0; register one for this test only.
  const key = 'replica.ready@0'
  upcasters[key] = (raw) => ({ ...raw, data: { replicaId: (raw['data'] as { id: string }).id } })
  t.teardown(() => { delete upcasters[key]; })
  const ok = parseEventObject({ ...example('replica.ready'), version: 0, data: { id: example('replica.ready').data.replicaId } })
  t.ok(ok.ok && ok.event.version === 1)
  const boom = parseEventObject({ ...example('replica.ready'), version: 0, data: null })
  t.match(boom.ok ? '' : boom.reason, /^schema: upcast failed: /)
})
