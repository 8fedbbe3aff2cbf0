/**
 * A rebuild carries each agent's latest price point from one page to the
 * next instead of reading it back (cost.projection.ts `rebuilding`): price
 * points that arrive late (older than ones already applied), on and across
 * page boundaries, must still give the live rows. Seeded; the seed is printed
 * on failure.
 */
import { sql } from 'kysely'
import t from 'tap'
import { newEvent } from '../../src/events/producer.js'
import type { SpotEvent } from '../../src/events/schemas.js'
import { replayFromLog } from '../../src/replay/from-log.js'
import { PROJECTIONS } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { uuidOf } from '../ingest/fixtures/stream.js'
import { Feeder, projectionRows } from './fixtures/history.js'

const SEED = Number(process.env.SEED ?? 20261202)

/** Park–Miller, enough to shuffle a test history. */
function random(seed: number): () => number {
  let s = seed % 2147483647 || 1
  return () => (s = (s * 48271) % 2147483647) / 2147483647
}

t.test('late price points on and across page boundaries: the rebuild equals the live run', async (t) => {
  t.teardown(() => { if (t.passing() === false) console.error(`replay-late: SEED=${SEED}`) })
  const { db } = await freshDatabase(t, { migrate: true })
  const feeder = new Feeder(db, 'late')
  const rnd = random(SEED)
  const clientId = uuidOf('late:client')
  const base = Date.parse('2026-11-20T22:00:00Z')
  let n = 0
  const id = () => uuidOf(`late:${SEED}:${n++}`)
  const agents = Array.from({ length: 3 }, (_, a) => uuidOf(`late:agent:${a}`))
  await feeder.feed(agents.map((a, i) => newEvent('agent.registered', {
    eventId: id(), occurredAt: new Date(base + i).toISOString(), clientId, agentId: a, data: {
      logicalAgentId: `web-${i}`, instanceId: `i-late-${i}`, instanceType: 'm5.large', region: 'us-east-1',
      az: 'us-east-1a', mode: 'spot', hostname: `host-${i}`, spotPrice: '0.0345', onDemandPrice: '0.096',
    },
  })))
  // Heartbeats over four hours across a UTC midnight, each agent's in a shuffled time order; some carry an unchanged price.
  const beats: SpotEvent[] = []
  for (const [i, a] of agents.entries()) {
    for (let k = 0; k < 30; k++) {
      beats.push(newEvent('agent.heartbeat', {
        eventId: id(), occurredAt: new Date(base + 60_000 + Math.floor(rnd() * 4 * 3_600_000)).toISOString(), clientId, agentId: a,
        data: { status: 'online', instanceId: `i-late-${i}`, mode: rnd() < 0.2 ? 'on-demand' : 'spot', poolId: 'm5.large.us-east-1a',
          spotPrice: (0.03 + Math.floor(rnd() * 5) / 1000).toFixed(3), onDemandPrice: '0.096' },
      }))
    }
  }
  for (let i = beats.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [beats[i], beats[j]] = [beats[j]!, beats[i]!]
  }
  for (let i = 0; i < beats.length; i += 7) await feeder.feed(beats.slice(i, i + 7))

  const live = await projectionRows(db)
  t.ok(live['cost_records']!.length > 30, 'cost records to rebuild')
  for (const table of Object.keys(live)) await sql.raw(`DELETE FROM \`${table}\``).execute(db)
  // Pages of 1, 4 and 13 log rows: late points land on a page of their own, at a page's start, and within one.
  for (const pageSize of [1, 4, 13]) {
    await replayFromLog(db, { projections: PROJECTIONS, pageSize })
    t.same(await projectionRows(db), live, `row for row, pages of ${pageSize}`)
  }
})
