// The compiled response serializer: it writes what the zod schema declares
// (the same JSON as the type provider's zod serializer, extra keys left
// out), and with `check` on a response its schema refuses is a 500, never
// sent as it is.
import Fastify from 'fastify'
import { serializerCompiler } from 'fastify-type-provider-zod'
import t from 'tap'
import { z } from 'zod'
import { errorHandler } from '../../src/errors.js'
import { zodFastSerializer } from '../../src/plugins/serializer.js'

const Row = z.object({
  id: z.string(), n: z.int().nullable(), price: z.number().nullable(), at: z.string().nullable(), ok: z.boolean(),
  nested: z.object({ name: z.string(), az: z.string().nullable() }), tags: z.array(z.string()),
})
const Chart = z.object({ time: z.string(), onDemand: z.number().nullable() }).catchall(z.number())
const rows = [
  { id: 'a', n: 1, price: 0.031, at: '2026-12-02T01:00:00.000Z', ok: true, nested: { name: 'm5.large.us-east-1a', az: null }, tags: ['x', 'y"z'], extra: 'dropped' },
  { id: 'b\u2028', n: null, price: null, at: null, ok: false, nested: { name: '', az: 'us-east-1b' }, tags: [] },
]
const chart = [{ time: '2026-12-02T00:00:00.000Z', onDemand: 0.096, pool_m5_large_us_east_1a: 0.0305 }]

/** An app answering /rows and /chart (plain Fastify: the handlers' answers are not type-checked against the schemas, so one can be wrong). */
async function appWith(kind: 'fast' | 'checked' | 'zod', bad = false) {
  const app = Fastify({ logger: false })
  app.setSerializerCompiler(kind === 'zod' ? serializerCompiler : zodFastSerializer(kind === 'checked'))
  app.setErrorHandler(errorHandler)
  app.get('/rows', { schema: { response: { 200: z.array(Row) } } }, async () => (bad ? [{ ...rows[0]!, n: 'one' }] : rows))
  app.get('/chart', { schema: { response: { 200: z.array(Chart) } } }, async () => chart)
  await app.ready()
  return app
}

t.test('the same JSON as the zod serializer', async (t) => {
  const fast = await appWith('fast')
  const zod = await appWith('zod')
  t.teardown(() => Promise.all([fast.close(), zod.close()]))
  for (const url of ['/rows', '/chart']) {
    const [a, b] = await Promise.all([fast.inject(url), zod.inject(url)])
    t.equal(a.statusCode, 200)
    t.same(JSON.parse(a.body), JSON.parse(b.body), `${url}: same value`)
  }
  t.notMatch((await fast.inject('/rows')).body, /dropped/, 'undeclared keys are not sent')
})

t.test('check on: a response the schema refuses is a 500', async (t) => {
  const checked = await appWith('checked', true)
  t.teardown(() => checked.close())
  const r = await checked.inject('/rows')
  t.equal(r.statusCode, 500)
  t.notMatch(r.body, /one|dropped/, 'nothing of the refused answer is sent')
  t.equal((await checked.inject('/chart')).statusCode, 200)
})
