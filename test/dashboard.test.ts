/**
 * The dashboard in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against the real app on a fresh database: the page loads
 * with no console errors, the agents table, the price and savings charts and
 * the safest-pool table show the data the API serves (every route it reads
 * exists),
 * a mode toggle clicked on the page changes the agent's mode in the
 * database, another client's token sees none of it, and a stopped service is
 * reported as unreachable.
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
import { buildApp } from './helper-app.js'
import { waitFor } from './helper-kafka.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const POOLS = ['m5.large.us-east-1a', 'm5.large.us-east-1b', 'm5.large.us-east-1c']

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
  t.match(await page.locator('#status').textContent(), /live/, 'the page says it is live')
  t.notMatch(page.url(), /token=/, 'the token left the address bar')

  // Each chart draws the data its route serves; the pool table lists the ranking.
  for (const chart of ['price-chart', 'savings-chart']) {
    const points = await waitFor(`${chart} drawn`, async () => Number(await page.locator(`#${chart}`).getAttribute('data-points')), 30_000, 200)
    t.ok(points > 0, `${chart} drew ${points} points`)
    t.ok(await page.locator(`#${chart} canvas`).count(), `${chart} has a canvas`)
  }
  const pools = page.locator('#pools tbody tr')
  await waitFor('the safest pools listed', async () => (await pools.count()) === POOLS.length, 30_000, 200)
  const last = await pools.last().locator('td').allTextContents()
  t.same([last[1], last[3]], ['m5.large.us-east-1b', '1'], 'the interrupted pool ranks last with its interruption')
  t.ok(Number(last[2]) < 100, `and a score below the others' 100 (${last[2]})`)
  t.notMatch(await pools.last().locator('td').nth(4).textContent(), /–/, 'with the time its instance ran before the notice')
  t.same([...missing], [], 'every route the page reads exists on the server')

  // The mode toggle: from the page to the database, and back.
  const row = page.locator(`#agent-${agentIds[0]}`)
  const mode = async () => db.selectFrom('agents').select(['auto_switch_enabled', 'manual_replica_enabled']).where('id', '=', agentIds[0]!).executeTakeFirstOrThrow()
  const before = await mode()
  const target = before.manual_replica_enabled ? 'auto' : 'manual'
  await row.locator(`button[data-mode="${target}"]`).click()
  const after = await waitFor('the mode changed in the database', async () => {
    const m = await mode()
    return (target === 'manual' ? m.manual_replica_enabled === 1 : m.auto_switch_enabled === 1) ? m : undefined
  }, 30_000, 200)
  t.same(after, target === 'manual' ? { auto_switch_enabled: 0, manual_replica_enabled: 1 } : { auto_switch_enabled: 1, manual_replica_enabled: 0 }, `the page turned ${target} on and the other mode off`)
  await waitFor('the page shows the new mode', async () => (await row.locator(`button[data-mode="${target}"]`).getAttribute('aria-pressed')) === 'true', 30_000, 200)
  t.pass('the page shows the new mode')
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

  // The service goes away: the page says so.
  await app.close()
  await waitFor('the page reports the service unreachable', async () => /unreachable/.test(await page.locator('#status').textContent() ?? ''), 30_000, 200)
  t.pass('a stopped service is reported as unreachable')
})
