// Walks the original React console (served elsewhere, already pointed at a
// running `serve`) in headless Chromium as a user would: the landing page,
// every admin page, the client (every tab), an instance panel with its 7-day
// chart, an agent toggle, the notification bell and a replica promotion.
// Prints every failed request and console error and exits 1 if there was any.
// Not part of npm test (it needs the UI, which is not in this repository).
//
//   node scripts/ui-walk.mjs UI_URL [SCREENSHOT_DIR]
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const [url, shots = '/tmp/ui-walk'] = process.argv.slice(2)
if (!url) {
  console.error('usage: node scripts/ui-walk.mjs UI_URL [SCREENSHOT_DIR]')
  process.exit(2)
}
mkdirSync(shots, { recursive: true })
const profile = join(shots, `profile-${process.pid}`)
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 1000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
const problems = []
const page = context.pages()[0] ?? await context.newPage()
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`))
page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`) })
const dialogs = []
page.on('dialog', (d) => { dialogs.push(d.message()); void d.accept() })

const step = async (name, fn) => {
  const before = problems.length
  try {
    await fn()
  } catch (err) {
    problems.push(`${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
  }
  await page.waitForLoadState('networkidle').catch(() => {})
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false }).catch((err) => problems.push(`${name}: screenshot: ${err.message}`))
  const errorText = await page.locator('text=/^Error:|Failed to/').count().catch(() => 0)
  if (errorText) problems.push(`${name}: an error message is shown on the page`)
  console.log(`${problems.length === before ? 'ok  ' : 'FAIL'} ${name}`)
  for (const p of problems.slice(before)) console.log(`       ${p}`)
}
const sidebar = (label) => page.locator('aside, nav').getByText(label, { exact: true }).first().click()

await step('01-landing', async () => {
  await page.goto(url)
  await page.getByRole('heading', { name: 'Dashboard Overview' }).first().waitFor({ timeout: 20_000 })
})
for (const [i, label] of ['Clients', 'All Agents', 'All Instances', 'Activity Log', 'System Health'].entries()) {
  await step(`0${i + 2}-${label.toLowerCase().replace(/ /g, '-')}`, async () => { await sidebar(label) })
}
await step('07-notifications', async () => {
  await page.locator('button:has(svg.lucide-bell)').first().click()
  await page.getByText(/notifications/i).first().waitFor({ timeout: 5_000 })
  await page.waitForTimeout(1000)
  await page.screenshot({ path: join(shots, '07-notifications-open.png') })
  await page.keyboard.press('Escape')
  await page.mouse.click(700, 900)
})
await step('08-open-client', async () => {
  // The sidebar's client list (a dot, the name, the instance count): the UI has no URL per client.
  await page.locator('li button:has(div.rounded-full)').first().click()
  await page.getByRole('button', { name: 'Replicas', exact: true }).waitFor({ timeout: 10_000 })
})
for (const tab of ['Overview', 'Agents', 'Instances', 'Replicas', 'Savings', 'Models', 'History']) {
  await step(`09-tab-${tab.toLowerCase()}`, async () => {
    await page.getByRole('button', { name: tab, exact: true }).last().click()
    await page.waitForTimeout(1500)
  })
}
await step('10-agent-toggle', async () => {
  await page.getByRole('button', { name: 'Agents', exact: true }).click()
  await page.waitForTimeout(1500)
  const toggles = page.locator('button[class*="rounded-full"]')
  if (await toggles.count() === 0) throw new Error('no toggle on the Agents tab')
  await toggles.nth(1).click()
  await page.waitForTimeout(1500)
})
await step('11-instance-panel', async () => {
  await page.getByRole('button', { name: 'Instances', exact: true }).click()
  await page.getByText('Manage').first().click()
  await page.getByText('Instance Metrics').waitFor({ timeout: 15_000 })
  await page.locator('td .recharts-surface').first().scrollIntoViewIfNeeded({ timeout: 15_000 })
})
await step('12-promote', async () => {
  await page.getByRole('button', { name: 'Replicas', exact: true }).click()
  const button = page.getByRole('button', { name: /Switch to Replica/ }).first()
  await button.waitFor({ timeout: 10_000 })
  if (await button.isDisabled()) throw new Error('no replica ready to promote')
  await button.click()
  await page.waitForTimeout(2000)
})
console.log(`dialogs: ${dialogs.map((d) => d.split('\n')[0]).join(' | ') || 'none'}`)
await context.close()
console.log(`${problems.length} problem(s); screenshots in ${shots}`)
process.exit(problems.length === 0 ? 0 : 1)
