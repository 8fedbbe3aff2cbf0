// Operator routes: the operator token (constant-time compare; unset = every
// request refused), clients created and listed, a rotated token works at once
// and the old one stops, dead letters listed with their reasons and re-driven
// through the pipeline: a message that still fails stays parked with the new
// reason, one the rules now accept is applied once, and a second re-drive or
// a duplicate message applies nothing again.
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { newEvent } from '../../src/events/producer.js'
import { applyBatch } from '../../src/log/apply-batch.js'
import { submitInput } from '../../src/log/core.js'
import { replayFromLog, replayLockName } from '../../src/replay/from-log.js'
import { PROJECTIONS } from '../../src/wiring.js'
import { OPERATOR_TOKEN, buildApp } from '../helper-app.js'
import { connection, databaseUrl } from '../helper-db.js'
import { seedFleet } from './fixtures/fleet.js'

const op = { authorization: `Bearer ${OPERATOR_TOKEN}` }

t.test('operator auth', async (t) => {
  const { app, client } = await buildApp(t)
  t.equal((await app.inject('/api/operator/clients')).statusCode, 401)
  t.equal((await app.inject({ url: '/api/operator/clients', headers: { authorization: `Bearer ${OPERATOR_TOKEN}x` } })).statusCode, 401)
  t.equal((await app.inject({ url: '/api/operator/clients', headers: { authorization: `Bearer ${client.token}` } })).statusCode, 401, 'a client token is not an operator token')
  t.equal((await app.inject({ url: '/api/operator/clients', headers: op })).statusCode, 200)
  t.equal((await app.inject({ url: `/api/client/${client.id}/agents`, headers: op })).statusCode, 200, 'the operator token sees every client (the console\'s one token)')
  const { app: closed } = await buildApp(t, { operatorToken: undefined })
  const refused = await closed.inject({ url: '/api/operator/clients', headers: op })
  t.equal(refused.statusCode, 401)
  t.match(refused.json().message, /OPERATOR_TOKEN is not set/)
})

t.test('clients and token rotation', async (t) => {
  const { app, db, handlers } = await buildApp(t)
  const created = await app.inject({ method: 'POST', url: '/api/operator/clients', headers: op, payload: { name: 'Acme', email: 'ops@acme.example' } })
  t.equal(created.statusCode, 201)
  const { id, token } = created.json() as { id: string, token: string }
  t.match(token, /^sf_/)
  t.equal((await app.inject({ method: 'POST', url: '/api/operator/clients', headers: op, payload: { name: '' } })).statusCode, 400)
  await seedFleet(db, handlers, id, 'acme')
  const list = (await app.inject({ url: '/api/operator/clients', headers: op })).json()
  t.match(list, [{ name: 'test client', agents: 0 }, { id, name: 'Acme', email: 'ops@acme.example', isActive: true, agents: 1 }])

  const agents = (tok: string) => app.inject({ url: `/api/client/${id}/agents`, headers: { authorization: `Bearer ${tok}` } })
  t.equal((await agents(token)).statusCode, 200)
  const rotated = await app.inject({ method: 'POST', url: `/api/operator/clients/${id}/rotate-token`, headers: op })
  t.equal(rotated.statusCode, 200)
  const fresh = rotated.json().token as string
  t.not(fresh, token)
  t.equal((await agents(token)).statusCode, 401, 'the old token stops at once')
  t.equal((await agents(fresh)).statusCode, 200, 'the new one works')
  t.equal((await app.inject({ method: 'POST', url: `/api/operator/clients/${randomUUID()}/rotate-token`, headers: op })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/api/operator/clients/nope/rotate-token', headers: op })).statusCode, 400)
})

t.test('dead letters: list and re-drive', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const agentId = randomUUID()
  const auth = { authorization: `Bearer ${client.token}` }
  // An agent and a replica it requested (through the API), not launched yet.
  const reg = newEvent('agent.registered', { clientId: client.id, agentId, data: {
    logicalAgentId: 'w', instanceId: 'i-dl-1', instanceType: 'm5.large', region: 'us-east-1', az: 'us-east-1a', mode: 'spot', hostname: 'h', spotPrice: '0.03', onDemandPrice: '0.096',
  } })
  await submitInput(db, reg, handlers)
  const created = await app.inject({ method: 'POST', url: `/api/agents/${agentId}/replicas`, headers: auth, payload: { poolId: 'm5.large.us-east-1b' } })
  t.equal(created.statusCode, 201)
  const replicaId = created.json().id as string

  // Offsets 0..2 on replica-events: garbage, a ready before its launch (rejected by the rules), the launch.
  const ready = newEvent('replica.ready', { clientId: client.id, agentId, data: { replicaId } })
  const launched = newEvent('replica.launched', { clientId: client.id, agentId, data: { replicaId, instanceId: 'i-dl-2', poolId: 'm5.large.us-east-1b', replicaType: 'manual', hourlyCost: '0.03' } })
  const msg = (offset: number, value: string) => ({ offset: String(offset), key: Buffer.from(agentId), value: Buffer.from(value) })
  await applyBatch(db, { topic: 'replica-events', partition: 0, messages: [msg(0, '{"not json'), msg(1, JSON.stringify(ready))] }, handlers)
  await applyBatch(db, { topic: 'replica-events', partition: 0, messages: [msg(2, JSON.stringify(launched))] }, handlers)
  // The same ready again at another offset, parked as if the database had refused it.
  await db.insertInto('dead_letter_events').values({ topic: 'replica-events', partition_no: 0, offset_no: 3, raw_value: Buffer.from(JSON.stringify(ready)), reason: 'database refused: test' }).execute()

  const list = await app.inject({ url: '/api/operator/dead-letters?limit=2', headers: op })
  t.equal(list.statusCode, 200)
  t.equal(list.json().length, 2)
  const next = list.headers['x-next-cursor']
  t.type(next, 'string')
  const rest = (await app.inject({ url: `/api/operator/dead-letters?limit=2&cursor=${next}`, headers: op })).json()
  const parked = [...list.json(), ...rest] as { id: number, offset: string, reason: string, eventId: string | null, value: string }[]
  t.same(parked.map((d) => d.offset).sort(), ['0', '1', '3'])
  const byOffset = (o: string) => parked.find((d) => d.offset === o)!
  t.match(byOffset('0').reason, /invalid JSON/)
  t.match(byOffset('1'), { eventId: ready.eventId, reason: /has not been reported launched/ })
  t.match((await app.inject({ url: '/api/operator/dead-letters?reason=JSON', headers: op })).json(), [{ offset: '0' }])

  const redrive = (id: number) => app.inject({ method: 'POST', url: `/api/operator/dead-letters/${id}/redrive`, headers: op })
  const bad = await redrive(byOffset('0').id)
  t.match(bad.json(), { outcome: 'still-failing', reason: /invalid JSON/ })
  const [row] = (await sql<{ redrive_count: number, resolved_at: string | null }>`SELECT redrive_count, resolved_at FROM dead_letter_events WHERE id = ${byOffset('0').id}`.execute(db)).rows
  t.same(row, { redrive_count: 1, resolved_at: null }, 'still parked, tried once')

  const applied = await redrive(byOffset('1').id)
  t.match(applied.json(), { outcome: 'applied', eventId: ready.eventId })
  const status = async () => (await db.selectFrom('replica_instances').select('status').where('id', '=', replicaId).executeTakeFirstOrThrow()).status
  t.equal(await status(), 'ready', 'the rules accepted the ready now that the launch is known')
  t.match((await redrive(byOffset('1').id)).json(), { outcome: 'already-resolved' })
  const dup = await app.inject({ method: 'POST', url: '/api/operator/dead-letters/redrive', headers: op, payload: {} })
  t.match(dup.json(), { attempted: 2, applied: 0, duplicates: 1, stillFailing: 1 }, 'the copy at offset 3 is a duplicate; the garbage still fails')
  const logged = (await sql<{ n: number }>`SELECT COUNT(*) AS n FROM event_log WHERE event_id = ${ready.eventId}`.execute(db)).rows[0]
  t.equal(Number(logged?.n), 1, 'logged once')
  const decided = (await sql<{ type: string }>`SELECT type FROM event_log WHERE cause_event_id = ${ready.eventId} ORDER BY seq`.execute(db)).rows.map((r) => r.type)
  t.same(decided, ['decision.rejected'], 'the first try is recorded as rejected; the applied re-drive decided nothing else to record')
  t.same((await app.inject({ url: '/api/operator/dead-letters', headers: op })).json().map((d: { offset: string }) => d.offset), ['0'])
  t.same((await app.inject({ url: '/api/operator/dead-letters?resolved=true', headers: op })).json().map((d: { offset: string }) => d.offset).sort(), ['1', '3'])
  t.equal((await redrive(999_999)).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/api/operator/dead-letters/redrive', headers: op, payload: { limit: 0 } })).statusCode, 400)

  const fleet = (await app.inject({ url: '/api/operator/fleet', headers: op })).json()
  t.match(fleet, { clients: 1, agents: 1, liveReplicas: 1, deadLettersParked: 1, lastLogSeq: Number })
  const replay = (await app.inject({ url: '/api/operator/replay', headers: op })).json()
  t.match(replay, { running: false, rebuilds: [], checkpoints: [{ topic: 'replica-events', partition: 0, offset: '2' }] })
})

t.test('replay status: a replay running now, and the latest rebuilds with their checkpoints', async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const status = async () => (await app.inject({ url: '/api/operator/replay', headers: op })).json()
  t.match(await status(), { running: false, rebuilds: [] }, 'before any replay: none')
  await seedFleet(db, handlers, client.id, 'replayed')
  const rows = Number((await sql<{ n: number }>`SELECT COUNT(*) AS n FROM event_log`.execute(db)).rows[0]!.n)
  const r = await replayFromLog(db, { projections: PROJECTIONS })
  t.match(await status(), { running: false, rebuilds: [{ id: r.rebuildId, source: 'log', status: 'swapped', eventsApplied: rows, finishedAt: String }] },
    'the finished rebuild, with every log row applied')
  // What `replay` holds for its whole run, taken here on a connection of its own.
  const database = (await sql<{ d: string }>`SELECT DATABASE() AS d`.execute(db)).rows[0]!.d
  const holder = await connection(databaseUrl(), database)
  t.teardown(() => holder.end())
  await holder.query('SELECT GET_LOCK(?, 0)', [replayLockName(database)])
  t.match(await status(), { running: true }, 'running while a replay holds the lock')
  await holder.query('SELECT RELEASE_LOCK(?)', [replayLockName(database)])
  t.match(await status(), { running: false }, 'and not once it let go')
})
