/**
 * The demo as people and tools stop it (`npm run demo`, what `npm start` runs
 * after building): SIGTERM to npm (docker, an IDE's stop button), SIGINT to
 * the node process, and the wrapper killed outright. Each time the whole tree
 * must go: npm, the shell wrapper, node, the broker the wrapper started, the
 * listening port; a signal ends it with exit 0. Each start after the first
 * works with what the one before left: same database, same demo client (a new
 * token), the same simulated agents, no EADDRINUSE.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { DEMO_CLIENT_NAME } from '../src/demo.js'
import { connection, databaseUrl, onServer, randomName } from './helper-db.js'
import { waitFor } from './helper-kafka.js'
import { ROOT, alive, ensureBuilt, exited, freePort, portFree, processes } from './helper-process.js'

const AGENTS = 6

async function startDemo(t: Test, env: NodeJS.ProcessEnv) {
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
    return /#client=([0-9a-f-]{36})&token=(\S+)/.exec(out)
  }, 90_000, 100).catch((err: unknown) => { throw new Error(`${String(err)}\n${out}`) })
  const tree = processes().filter((p) => p.pgid === npm.pid)
  const node = tree.find((p) => p.cmd.includes('dist/src/bin.js demo') && p.cmd.startsWith('node'))
  const wrapper = tree.find((p) => p.cmd.includes('local-servers.sh run') && p.pid === node?.ppid)
  const kcat = Number(readFileSync(path.join(env.LOCAL_SERVERS_STATE!, 'kcat.pid'), 'utf8'))
  t.ok(node && wrapper && alive(kcat), 'npm, the wrapper, node and the broker are running')
  return { npm, node: node!, wrapper: wrapper!, kcat, clientId: running![1]!, token: running![2]!, output: () => out }
}

type Demo = Awaited<ReturnType<typeof startDemo>>

async function agentsOf(port: number, d: Demo): Promise<{ id: string, status: string }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/client/${d.clientId}/agents`, { headers: { authorization: `Bearer ${d.token}` } })
  if (res.status !== 200) throw new Error(`agents: ${res.status}`)
  return await res.json() as { id: string, status: string }[]
}

async function allGone(t: Test, d: Demo, port: number) {
  await waitFor('every process of the demo gone', () =>
    !processes().some((p) => p.pgid === d.npm.pid || p.pid === d.node.pid || p.pid === d.wrapper.pid || p.pid === d.kcat), 30_000)
  t.pass('no process of the tree is left, the broker included')
  t.ok(await portFree(port), `port ${port} is free`)
}

t.test('the demo stops whole on SIGTERM, SIGINT or a killed parent, and starts again on what it left', async (t) => {
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

  // 1. SIGTERM to npm, as docker and IDEs send it.
  const first = await startDemo(t, env)
  const agents = await waitFor('the simulated agents registered', async () => {
    const a = await agentsOf(port, first)
    return a.length === AGENTS ? a : undefined
  })
  t.equal(agents!.length, AGENTS)
  process.kill(first.npm.pid!, 'SIGTERM')
  t.same(await exited(first.npm), { code: 0, signal: null }, 'npm exits 0')
  t.match(first.output(), /demo stopped/)
  await allGone(t, first, port)

  // 2. Again on what the first left: the same client and agents. SIGINT to node alone this time.
  const second = await startDemo(t, env)
  t.equal(second.clientId, first.clientId, 'the demo client is reused')
  t.not(second.token, first.token, 'with a new token')
  t.match(second.output(), /reused, new token/)
  const again = await agentsOf(port, second)
  t.same(again.map((a) => a.id).sort(), agents!.map((a) => a.id).sort(), 'the same agents, not a second set')
  const stale = await fetch(`http://127.0.0.1:${port}/api/client/${first.clientId}/agents`, { headers: { authorization: `Bearer ${first.token}` } })
  t.equal(stale.status, 401, 'the previous token no longer works')
  process.kill(second.node.pid, 'SIGINT')
  t.same(await exited(second.npm), { code: 0, signal: null }, 'SIGINT to node: npm exits 0')
  await allGone(t, second, port)

  // 3. The wrapper killed outright (no trap runs): node notices it was orphaned and stops, then the broker goes.
  const third = await startDemo(t, env)
  process.kill(third.wrapper.pid, 'SIGKILL')
  await exited(third.npm)
  await allGone(t, third, port)

  const conn = await connection(databaseUrl(), dbName)
  const [rows] = await conn.query('SELECT COUNT(*) AS n FROM clients WHERE name = ?', [DEMO_CLIENT_NAME])
  await conn.end()
  const n = Array.isArray(rows) && rows[0] && 'n' in rows[0] ? rows[0].n : -1
  t.equal(Number(n), 1, 'one demo client after three starts')
})
