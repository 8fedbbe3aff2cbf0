// Takes docs/dashboard.png: the dashboard of a running demo in headless
// Chromium (Debian's chromium, playwright-core, the flags of
// test/dashboard.test.ts), once every view has drawn. Not part of npm test.
//
//   npm start                      (let it run a few minutes, so there is data)
//   node scripts/dashboard-shot.mjs 'http://127.0.0.1:8080/#client=…&token=…&operator=…' [docs/dashboard.png]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const [url, out = 'docs/dashboard.png'] = process.argv.slice(2)
if (!url || !url.includes('#client=')) {
  console.error("usage: node scripts/dashboard-shot.mjs 'DASHBOARD_URL_THE_DEMO_PRINTED' [OUT.png]")
  process.exit(2)
}
const profile = mkdtempSync(join(tmpdir(), 'spotfleet-shot-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 1000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
try {
  const page = context.pages()[0] ?? await context.newPage()
  await page.goto(url)
  await page.waitForSelector('#agents tbody tr', { timeout: 30_000 })
  await page.waitForSelector('#status[data-state="live"]', { timeout: 30_000 })
  await page.waitForFunction(() => ['price-chart', 'savings-chart'].every((id) => Number(document.getElementById(id)?.dataset.points) > 0), null, { timeout: 30_000 })
  await page.screenshot({ path: out, fullPage: true })
  console.log(`wrote ${out}`)
} finally {
  await context.close()
  rmSync(profile, { recursive: true, force: true })
}
