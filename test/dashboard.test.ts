/**
 * The dashboard in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against the real app on a fresh database: the page loads
 * with no console errors; the agents table, the recent interruptions (outcome,
 * response time) and the safest-pool table show the data the API serves
 * (every route it reads exists); each chart draws every series (points, and
 * pixels of the series' colour on its canvas: the price chart's pools and its
 * on-demand line, the savings chart's three lines); a mode toggle clicked on
 * the page changes the agent's mode in the database, and the replica manual
 * mode launched shows with its sync progress; the operator's token shows the
 * dead letters; another client's token sees none of it, and a stopped service
 * is reported as unreachable.
 */
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { chromium, type Page } from 'playwright-core'
import t from 'tap'
import { createClient } from '../src/clients/client.repository.js'
import { newEvent } from '../src/events/producer.js'
import { EventSchema, type SpotEventInput } from '../src/events/schemas.js'
import { submitInput } from '../src/log/core.js'
import { OPERATOR_TOKEN, buildApp } from './helper-app.js'
import { waitFor } from './helper-kafka.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const POOLS = ['m5.large.us-east-1a', 'm5.large.us-east-1b', 'm5.large.us-east-1c']

/** Pixels of the canvas in a chart within a small distance of a series' stroke colour (#rrggbb). */
function strokePixels(page: Page, chart: string, stroke: string): Promise<number> {
  return page.evaluate(([id, hex]) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`#${id} canvas`)
    const ctx = canvas?.getContext('2d')
    if (!canvas || !ctx) return 0
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data
    let n = 0
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3]! > 200 && Math.abs(px[i]! - r!) + Math.abs(px[i + 1]! - g!) + Math.abs(px[i + 2]! - b!) < 40) n++
    }
    return n
  }, [chart, stroke] as const)
}

t.test('the dashboard in a real browser', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)` }, async (t) => {
  const { app, db, client, handlers } = await buildApp(t)
  const other = await createClient(db, 'another client')
  const submit = async (e: SpotEventInput) => {
    const r = await submitInput(db, EventSchema.parse(e), handlers)
    if (r.rejection) throw new Error(`${e.type} rejected: ${r.rejection}`)
  }

  // Two agents with prices over the last day in three pools, and one interruption.
  const agentIds = [randomUUID(), randomUUID()]
  const instances = ['i-0dash000000000001', 'i-0dash000000000002']
  const start = Date.now() - 24 * 3_600_000
  for (const [i, agentId] of agentIds.entries()) {
    await submit(newEvent('agent.registered', {
      clientId: client.id, agentId, occurredAt: new Date(start).toISOString(),
      data: { logicalAgentId: `web-${i + 1}`, instanceId: instances[i]!, instanceType: 'm5.large', region: 'us-east-1', az: `us-east-1${'ab'[i]}`, mode: 'spot', hostname: `web-${i + 1}`, spotPrice: '0.0350', onDemandPrice: '0.0960' },
    }))
  }
  for (let h = 0; h < 24; h += 2) {
    for (const [p, poolId] of POOLS.entries()) {
      const observedAt = new Date(start + h * 3_600_000 + 60_000).toISOString()
      await submit(newEvent('pricing.snapshot', {
        clientId: client.id, agentId: agentIds[0]!, occurredAt: observedAt,
        data: { poolId, instanceType: 'm5.large', region: 'us-east-1', az: poolId.slice('m5.large.'.length), spotPrice: (0.03 + p * 0.004 + h * 0.0002).toFixed(4), onDemandPrice: '0.0960', observedAt, sourceType: 'test' },
      }))
    }
  }
  // Heartbeats with prices every two hours: cost intervals, so the daily savings chart has data.
  for (let h = 2; h < 24; h += 2) {
    for (const [i, agentId] of agentIds.entries()) {
      await submit(newEvent('agent.heartbeat', {
        clientId: client.id, agentId, occurredAt: new Date(start + h * 3_600_000).toISOString(),
        data: { status: 'online', instanceId: instances[i]!, mode: 'spot', poolId: POOLS[i]!, spotPrice: '0.0350', onDemandPrice: '0.0960' },
      }))
    }
  }
  await submit(newEvent('spot.termination_notice', {
    clientId: client.id, agentId: agentIds[1]!, occurredAt: new Date(Date.now() - 60_000).toISOString(),
    data: { instanceId: instances[1]!, poolId: 'm5.large.us-east-1b', terminationTime: new Date(Date.now() + 60_000).toISOString() },
  }))

  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const profile = mkdtempSync(path.join(tmpdir(), 'spotfleet-chromium-'))
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS })
  t.teardown(async () => { await browser.close(); rmSync(profile, { recursive: true, force: true }) })

  /** Opens the page; collects JS errors, console errors, and the API routes this server does not have. */
  async function open(fragment: string): Promise<{ page: Page, errors: string[], missing: Set<string> }> {
    const page = await browser.newPage()
    const errors: string[] = []
    const missing = new Set<string>()
    const notFound = new Set<string>()
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
    page.on('response', async (res) => {
      if (res.status() !== 404) return
      const url = new URL(res.url()).pathname
      notFound.add(url)
      // A route the server lacks (Fastify's own 404), not a row that is not found.
      const body = await res.json().catch(() => null) as { message?: string } | null
      if (/^Route /.test(body?.message ?? '')) missing.add(url)
    })
    page.on('console', (m) => {
      if (m.type() !== 'error') return
      // Chromium reports every 4xx fetch as a console error; those of a route not on this server yet are expected.
      const url = m.location().url ? new URL(m.location().url).pathname : ''
      if (/status of 404/.test(m.text()) && notFound.has(url)) return
      errors.push(`console: ${m.text()} ${m.location().url}`)
    })
    await page.goto(`${address}/${fragment}`)
    return { page, errors, missing }
  }

  const { page, errors, missing } = await open(`#client=${client.id}&token=${client.token}`)
  await page.waitForSelector('#agents tbody tr', { timeout: 30_000 })
  t.equal(await page.locator('#agents tbody tr').count(), 2, 'both agents listed')
  // The agents table is drawn before the other views are read; the status says live once all of them answered.
  t.ok(await waitFor('the page says it is live', async () => /live/.test(await page.locator('#status').textContent() ?? ''), 30_000, 200), 'the page says it is live')
  t.notMatch(page.url(), /token=/, 'the token left the address bar')

  // Each chart draws every series its route serves: points for each, and pixels of each series' colour on its canvas.
  const expected: Record<string, number> = { 'price-chart': 1 + POOLS.length, 'savings-chart': 3 }
  for (const [chart, seriesCount] of Object.entries(expected)) {
    const series = await waitFor(`${chart} drawn`, async () => {
      const s = JSON.parse(await page.locator(`#${chart}`).getAttribute('data-series') ?? '{}') as Record<string, [number, string]>
      if (Object.keys(s).length !== seriesCount) throw new Error(`${Object.keys(s).length} series so far`)
      return s
    }, 30_000, 200)
    t.equal(await strokePixels(page, chart, '#123457'), 0, `${chart}: a colour no series uses has no pixels (the count tells them apart)`)
    for (const [label, [points, stroke]] of Object.entries(series)) {
      t.ok(points > 0, `${chart}: ${label} has ${points} points`)
      t.ok(await strokePixels(page, chart, stroke) > 20, `${chart}: ${label} is drawn on the canvas (${stroke})`)
    }
  }
  t.ok(Object.keys(JSON.parse(await page.locator('#price-chart').getAttribute('data-series') ?? '{}')).includes('on-demand'), 'the price chart has the on-demand line')

  // Recent interruptions: the termination notice with its outcome (no replica: an emergency snapshot) and response time.
  const interruption = page.locator('#interruptions tbody tr')
  await waitFor('the interruption listed', async () => (await interruption.count()) === 1, 30_000, 200)
  const cells = await interruption.first().locator('td').allTextContents()
  t.match(cells[2], /termination/, 'the signal')
  t.equal(cells[4], 'emergency-snapshot', 'its outcome')
  t.match(cells[5], /^\d+(\.\d)? m?s$/, `its response time (${cells[5]})`)
  const pools = page.locator('#pools tbody tr')
  await waitFor('the safest pools listed', async () => (await pools.count()) === POOLS.length, 30_000, 200)
  const last = await pools.last().locator('td').allTextContents()
  t.same([last[1], last[3]], ['m5.large.us-east-1b', '1'], 'the interrupted pool ranks last with its interruption')
  t.ok(Number(last[2]) < 100, `and a score below the others' 100 (${last[2]})`)
  t.match(await pools.last().locator('td').nth(4).textContent(), /^\d+(\.\d)? (min|h|d)$/, 'with the time its instance ran before the notice')
  t.same([...missing], [], 'every route the page reads exists on the server')

  // The mode toggle: from the page to the database, and back.
  const row = page.locator(`#agent-${agentIds[0]}`)
  const mode = async () => db.selectFrom('agents').select(['auto_switch_enabled', 'manual_replica_enabled']).where('id', '=', agentIds[0]!).executeTakeFirstOrThrow()
  const before = await mode()
  t.same(before, { auto_switch_enabled: 1, manual_replica_enabled: 0 }, 'a new agent switches automatically')
  const target = 'manual'
  await row.locator(`button[data-mode="${target}"]`).click()
  const after = await waitFor('the mode changed in the database', async () => {
    const m = await mode()
    return (target === 'manual' ? m.manual_replica_enabled === 1 : m.auto_switch_enabled === 1) ? m : undefined
  }, 30_000, 200)
  t.same(after, { auto_switch_enabled: 0, manual_replica_enabled: 1 }, 'the page turned manual on and automatic switching off')
  await waitFor('the page shows the new mode', async () => (await row.locator(`button[data-mode="${target}"]`).getAttribute('aria-pressed')) === 'true', 30_000, 200)
  t.pass('the page shows the new mode')

  // Manual mode launched a replica; the agent reports it syncing: the page shows the live replica and its progress.
  const replica = await waitFor('the manual replica requested', () => db.selectFrom('replica_instances').select(['id', 'pool_id'])
    .where('agent_id', '=', agentIds[0]!).executeTakeFirstOrThrow(), 30_000, 200)
  await submit(newEvent('replica.launched', { clientId: client.id, agentId: agentIds[0]!, data: { replicaId: replica.id, instanceId: 'i-0dashreplica0001', poolId: replica.pool_id, replicaType: 'manual', hourlyCost: '0.0310' } }))
  await submit(newEvent('replica.sync_progress', { clientId: client.id, agentId: agentIds[0]!, data: { replicaId: replica.id, syncStatus: 'syncing', syncLatencyMs: 300, stateTransferProgress: 50 } }))
  const replicaCells = row.locator('td')
  await waitFor('the page shows the syncing replica', async () => /50% syncing/.test(await replicaCells.nth(6).textContent() ?? ''), 30_000, 200)
  t.match(await replicaCells.nth(5).textContent(), new RegExp(`syncing.*${replica.pool_id.replace(/\./g, '\\.')}`), 'the live replica with its pool')
  t.equal(await row.locator('td progress').getAttribute('value'), '50', 'and its sync progress')
  t.same(errors, [], 'no console errors')

  // Another client's token sees none of it: not with its own id, not with this client's id.
  const own = await open(`#client=${other.id}&token=${other.token}`)
  await waitFor('the other client page loaded', async () => /live/.test(await own.page.locator('#status').textContent() ?? ''), 30_000, 200)
  t.equal(await own.page.locator('#agents tbody tr').count(), 0, 'the other client has no agents')
  t.notMatch(await own.page.content(), /web-1|i-0dash/, 'and sees none of the first client\'s agents or instances')
  const borrowed = await open(`#client=${client.id}&token=${other.token}`)
  await waitFor('the borrowed-id page answered', async () => /not found/.test(await borrowed.page.locator('#agents-view .empty').textContent() ?? ''), 30_000, 200)
  t.equal(await borrowed.page.locator('#agents tbody tr').count(), 0, 'another token with this client\'s id gets nothing')
  t.notMatch(await borrowed.page.content(), /web-1|i-0dash/)

  // Dead letters, for operators only: the operator token shows them with their reason.
  await db.insertInto('dead_letter_events').values({ topic: 'agent-events', reason: 'not JSON: Unexpected token', raw_value: Buffer.from('{') }).execute()
  t.match(await page.locator('#dead-letters-view .empty').textContent(), /operators: add &operator=/, 'without the operator token the page says how to see them')
  const operator = await open(`#client=${client.id}&token=${client.token}&operator=${OPERATOR_TOKEN}`)
  await waitFor('the dead letter listed', async () => (await operator.page.locator('#dead-letters tbody tr').count()) === 1, 30_000, 200)
  t.same((await operator.page.locator('#dead-letters tbody tr td').allTextContents()).slice(1), ['agent-events', '–', 'not JSON: Unexpected token'], 'the dead letter with its topic and reason')
  t.same(operator.errors, [], 'no console errors on the operator\'s page')

  // The service goes away: the page says so.
  await app.close()
  await waitFor('the page reports the service unreachable', async () => /unreachable/.test(await page.locator('#status').textContent() ?? ''), 30_000, 200)
  t.pass('a stopped service is reported as unreachable')
})
