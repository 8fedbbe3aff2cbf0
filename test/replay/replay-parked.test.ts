/**
 * What a rebuild must not read by arrival: inputs parked because their agent
 * had not registered yet (DESIGN §1), which the live projections see only
 * once the registration releases them and never if it does not come; and a
 * decision logged long after its cause (the offline sweep's), which may be
 * written after the rebuild has read past its cause.
 */
import { sql } from 'kysely'
import t from 'tap'
import { sweepOffline } from '../../src/agent/offline-sweep.js'
import { newEvent } from '../../src/events/producer.js'
import { logHead } from '../../src/log/event-log.js'
import { replayFromLog } from '../../src/replay/from-log.js'
import { PROJECTIONS } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { uuidOf } from '../ingest/fixtures/stream.js'
import { Feeder, projectionRows } from './fixtures/history.js'

const base = Date.parse('2026-11-20T10:00:00Z')
const clientId = uuidOf('parked:client')
const iso = (min: number) => new Date(base + min * 60_000).toISOString()

const registered = (agentId: string, i: number, min: number) => newEvent('agent.registered', {
  eventId: uuidOf(`parked:reg:${i}`), occurredAt: iso(min), clientId, agentId, data: {
    logicalAgentId: `web-${i}`, instanceId: `i-parked-${i}`, instanceType: 'm5.large', region: 'us-east-1',
    az: 'us-east-1a', mode: 'spot', hostname: `host-${i}`, spotPrice: '0.0345', onDemandPrice: '0.096',
  },
})
const beat = (agentId: string, i: number, min: number, price: string) => newEvent('agent.heartbeat', {
  eventId: uuidOf(`parked:beat:${i}:${min}`), occurredAt: iso(min), clientId, agentId,
  data: { status: 'online', instanceId: `i-parked-${i}`, mode: 'spot', poolId: 'm5.large.us-east-1a', spotPrice: price, onDemandPrice: '0.096' },
})

t.test('parked inputs: released ones count from their release, never-released ones never, as live', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const feeder = new Feeder(db, 'parked')
  const [early, late, never] = ['early', 'late', 'never'].map((n) => uuidOf(`parked:agent:${n}`)) as [string, string, string]
  // Heartbeats before their agents' registrations: all three parked.
  await feeder.feed([beat(early, 0, 5, '0.031'), beat(late, 1, 5, '0.032'), beat(never, 2, 5, '0.033')])
  await feeder.feed([registered(early, 0, 1)])
  await feeder.feed([beat(early, 0, 10, '0.034'), beat(late, 1, 10, '0.035')])
  // Many rows later, the second registration releases its heartbeat; the third agent never registers.
  for (let k = 0; k < 6; k++) await feeder.feed([beat(early, 0, 20 + k, '0.036')])
  await feeder.feed([registered(late, 1, 2)])
  await feeder.feed([beat(late, 1, 30, '0.037')])

  const live = await projectionRows(db)
  const points = await sql<{ agent_id: string }>`SELECT agent_id FROM cost_price_points`.execute(db)
  t.notOk(points.rows.some((r) => r.agent_id === never), 'live: the never-registered agent has no cost point')
  t.ok(points.rows.some((r) => r.agent_id === late), 'live: the late agent has its points')
  for (const table of Object.keys(live)) await sql.raw(`DELETE FROM \`${table}\``).execute(db)
  // Pages of 1, 3 and 50 log rows: a parked input and its release on one page and on pages far apart.
  for (const pageSize of [1, 3, 50]) {
    await replayFromLog(db, { projections: PROJECTIONS, pageSize })
    t.same(await projectionRows(db), live, `row for row, pages of ${pageSize}`)
  }
})

t.test('a decision logged after the rebuild read past its cause is rebuilt where it stands', async (t) => {
  const { db } = await freshDatabase(t, { migrate: true })
  const feeder = new Feeder(db, 'offline')
  const agents = ['a', 'b'].map((n) => uuidOf(`offline:agent:${n}`))
  await feeder.feed(agents.map((a, i) => registered(a, i, 1)))
  for (let k = 0; k < 4; k++) await feeder.feed(agents.map((a, i) => beat(a, i, 10 + k, '0.034')))
  const live: { rows?: Awaited<ReturnType<typeof projectionRows>> } = {}
  const head = await logHead(db)
  await replayFromLog(db, {
    projections: PROJECTIONS, pageSize: 2,
    // Once the rebuild has read every input: the agents go silent, and the sweep logs their offline decisions (notifications) behind it.
    onPage: async (position) => {
      if (live.rows || position < head) return
      const marked = await sweepOffline(db, { offlineSeconds: 60, projections: PROJECTIONS, now: () => new Date(Date.now() + 3_600_000) })
      t.equal(marked.length, 2, 'both agents marked offline during the rebuild')
      live.rows = await projectionRows(db)
    },
  })
  t.ok((live.rows?.['notifications']?.length ?? 0) >= 2, 'the live notifications hold the offline ones')
  t.same(await projectionRows(db), live.rows, 'the rebuilt tables hold them too, row for row')
})
