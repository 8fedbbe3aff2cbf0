/**
 * Helpers for the demo tests: start `npm run demo` (what `npm start` runs
 * after building) as its own process group on a database, port and local
 * broker of its own, and check that a stopped demo left nothing behind.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { databaseUrl, onServer, randomName } from './helper-db.js'
import { waitFor } from './helper-kafka.js'
import { ROOT, alive, ensureBuilt, freePort, portFree, processes } from './helper-process.js'

export const AGENTS = 6

/** The environment of a demo: its own database (dropped in teardown), port and broker state directory. */
export async function demoEnv(t: Test): Promise<{ env: NodeJS.ProcessEnv, port: number, dbName: string }> {
  ensureBuilt()
  const dbName = randomName('demo')
  const state = mkdtempSync(path.join(tmpdir(), 'spotfleet-demo-'))
  t.teardown(async () => {
    rmSync(state, { recursive: true, force: true })
    await onServer(databaseUrl(), `DROP DATABASE IF EXISTS \`${dbName}\``)
  })
  const port = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env, DATABASE_URL: `${databaseUrl().replace(/\/[^/]*$/, '')}/${dbName}`, PORT: String(port),
    LOCAL_SERVERS_STATE: state, LOCAL_SERVERS_NO_INSTALL: '1', LOG_LEVEL: 'warn',
  }
  delete env.KAFKA_BROKERS // the wrapper starts a broker of its own, which must go too
  return { env, port, dbName }
}


export async function startDemo(t: Test, env: NodeJS.ProcessEnv) {
  // detached: npm leads a process group of its own, so the test can see every process of the tree.
  const npm = spawn('npm', ['run', 'demo', '--', '--agents', String(AGENTS), '--heartbeat-ms', '500', '--pricing-ms', '1000'], {
    cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  npm.stdout.on('data', (d: Buffer) => { out += d.toString() })
  npm.stderr.on('data', (d: Buffer) => { out += d.toString() })
  t.teardown(() => { if (npm.exitCode === null && npm.signalCode === null) process.kill(-npm.pid!, 'SIGKILL') })
  const running = await waitFor('the demo running', () => {
    if (npm.exitCode !== null) throw new Error(`the demo exited ${npm.exitCode}:\n${out}`)
    return /#client=([0-9a-f-]{36})&token=([^&\s]+)/.exec(out)
  }, 90_000, 100).catch((err: unknown) => { throw new Error(`${String(err)}\n${out}`) })
  const tree = processes().filter((p) => p.pgid === npm.pid)
  const node = tree.find((p) => p.cmd.includes('dist/src/bin.js demo') && p.cmd.startsWith('node'))
  const wrapper = tree.find((p) => p.cmd.includes('local-servers.sh run') && p.pid === node?.ppid)
  // The broker the wrapper started (in the state directory of its own run), or null when KAFKA_BROKERS named one.
  const kcatFile = path.join(env.LOCAL_SERVERS_STATE!, `run.${wrapper?.pid}`, 'kcat.pid')
  const kcat = existsSync(kcatFile) ? Number(readFileSync(kcatFile, 'utf8')) : null
  const runState = path.dirname(kcatFile)
  t.ok(node && wrapper && (kcat === null ? env.KAFKA_BROKERS : alive(kcat)), 'npm, the wrapper, node and the broker are running')
  return { npm, node: node!, wrapper: wrapper!, kcat, runState, clientId: running![1]!, token: running![2]!, output: () => out }
}

export type Demo = Awaited<ReturnType<typeof startDemo>>

export async function agentsOf(port: number, d: Demo): Promise<{ id: string, status: string }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/client/${d.clientId}/agents`, { headers: { authorization: `Bearer ${d.token}` } })
  if (res.status !== 200) throw new Error(`agents: ${res.status}`)
  return await res.json() as { id: string, status: string }[]
}

export async function allGone(t: Test, d: Demo, port: number) {
  await waitFor('every process of the demo gone', () =>
    !processes().some((p) => p.pgid === d.npm.pid || p.pid === d.node.pid || p.pid === d.wrapper.pid || p.pid === d.kcat), 30_000)
  t.pass('no process of the tree is left, the broker included')
  t.ok(await portFree(port), `port ${port} is free`)
  await waitFor('the run\'s state directory removed', () => !existsSync(d.runState), 10_000)
  t.pass('nor the state directory of its run')
}

