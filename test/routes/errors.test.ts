// The one error handler: domain errors to their status, zod issues to 400,
// 5xx messages hidden from the client and logged with the request.
import Fastify from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import t from 'tap'
import { z } from 'zod'
import { ForbiddenError, NotFoundError, RuleRejectedError, UnauthorizedError, errorHandler, parseInput } from '../../src/errors.js'

t.test('error handler', async (t) => {
  const logged: unknown[] = []
  const stream = { write: (line: string) => { logged.push(JSON.parse(line)) } }
  const app = Fastify({ logger: { level: 'error', stream } })
  app.setErrorHandler(errorHandler)
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  const zod = app.withTypeProvider<ZodTypeProvider>()
  zod.get('/schema', { schema: { querystring: z.object({ limit: z.coerce.number().int().max(10) }), response: { 200: z.object({ n: z.int() }) } } },
    async (req) => ({ n: req.query.limit === 7 ? 1.5 : req.query.limit }))
  app.get('/404', async () => { throw new NotFoundError('agent x not found') })
  app.get('/409', async () => { throw new RuleRejectedError('replica r is already live') })
  app.get('/401', async () => { throw new UnauthorizedError('token required') })
  app.get('/403', async () => { throw new ForbiddenError('operator only') })
  app.get('/400', async (req) => parseInput(z.object({ n: z.coerce.number().int() }), req.query, 'query'))
  app.get('/500', async () => { throw new Error('connection refused to 10.0.0.5:3306') })
  app.post('/json', async () => 'ok')
  t.teardown(() => app.close())

  t.match((await app.inject('/404')).json(), { error: 'not_found', message: 'agent x not found' })
  const conflict = await app.inject('/409')
  t.equal(conflict.statusCode, 409)
  t.same(conflict.json(), { error: 'rule_rejected', message: 'replica r is already live' })
  t.equal((await app.inject('/401')).statusCode, 401)
  t.equal((await app.inject('/403')).statusCode, 403)
  const invalid = await app.inject('/400?n=x')
  t.equal(invalid.statusCode, 400)
  t.match(invalid.json(), { error: 'validation', issues: [{ path: ['query', 'n'], code: String, message: String }] })
  const crash = await app.inject('/500')
  t.equal(crash.statusCode, 500)
  t.same(crash.json(), { error: 'internal', message: 'Internal Server Error' })
  t.notMatch(crash.body, /10\.0\.0\.5/)
  t.match(logged, [{ level: 50, msg: 'request failed', url: '/500', method: 'GET', err: { message: /10\.0\.0\.5/ } }])
  const schema = await app.inject('/schema?limit=11')
  t.equal(schema.statusCode, 400, 'a route schema refusing the query: 400')
  t.match(schema.json(), { error: 'validation', issues: [{ path: ['query', 'limit'], code: 'too_big', message: String }] })
  t.same((await app.inject('/schema?limit=3')).json(), { n: 3 })
  const broken = await app.inject('/schema?limit=7')
  t.equal(broken.statusCode, 500, 'a response breaking its schema is our bug: 500')
  t.same(broken.json(), { error: 'internal', message: 'Internal Server Error' })
  const malformed = await app.inject({ method: 'POST', url: '/json', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(malformed.statusCode, 400, "Fastify's own client errors keep their status")
})
