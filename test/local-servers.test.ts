/**
 * scripts/local-servers.sh run, twice at once in one checkout (`npm test` in
 * one terminal while `npm start` runs in another): each run gets a broker of
 * its own, so the one that ends first does not take the other's away (it did:
 * the second run reused the first one's broker, which went with the first).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { databaseUrl } from './helper-db.js'
import { waitFor } from './helper-kafka.js'
import { ROOT, exited } from './helper-process.js'

const answers = (address: string) => new Promise<boolean>((resolve) => {
  const [host, port] = address.split(':')
  const s = connect(Number(port), host!, () => { s.end(); resolve(true) })
  s.once('error', () => resolve(false))
})

t.test('two runs at once: each its own broker, and the first to end leaves the other\'s', { skip: existsSync('/usr/bin/kcat') ? false : 'kcat is not installed' }, async (t) => {
  const state = mkdtempSync(path.join(tmpdir(), 'spotfleet-servers-'))
  t.teardown(() => rmSync(state, { recursive: true, force: true }))
  const env: NodeJS.ProcessEnv = { ...process.env, LOCAL_SERVERS_STATE: state, LOCAL_SERVERS_NO_INSTALL: '1', DATABASE_URL: databaseUrl() }
  delete env.KAFKA_BROKERS
  const run = () => {
    const child = spawn('scripts/local-servers.sh', ['run', 'sh', '-c', 'echo "broker=$KAFKA_BROKERS"; exec sleep 120'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'ignore'] })
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const broker = () => waitFor('the run\'s broker', () => {
      const m = /broker=(\S+)/.exec(out)
      if (!m) throw new Error('no address yet')
      return m[1]!
    }, 30_000)
    return { child, broker }
  }
  const a = run()
  const b = run()
  const [brokerA, brokerB] = await Promise.all([a.broker(), b.broker()])
  t.not(brokerA, brokerB, 'two brokers')
  t.ok(await answers(brokerA) && await answers(brokerB), 'both answer')

  a.child.kill('SIGTERM')
  await exited(a.child)
  await waitFor('the first run\'s broker gone', async () => !(await answers(brokerA)), 10_000)
  t.ok(await answers(brokerB), 'the second run\'s broker is still up after the first run ended')

  b.child.kill('SIGTERM')
  await exited(b.child)
  await waitFor('the second run\'s broker gone', async () => !(await answers(brokerB)), 10_000)
  t.same(readdirSync(state).filter((f) => f.startsWith('run.')), [], 'both runs removed their state directories')
})
