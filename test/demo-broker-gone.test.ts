/**
 * The local broker goes away under a running demo (killed, or crashed): the
 * console gets one line from serve that the broker is unreachable, not
 * kafkajs' lines for every retry; the wrapper says its broker is gone and
 * stops the demo, which exits non-zero with nothing left behind.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { agentsOf, AGENTS, allGone, demoEnv, startDemo } from './helper-demo.js'
import { waitFor } from './helper-kafka.js'
import { exited } from './helper-process.js'

t.test('the local broker killed under the demo', { skip: existsSync('/usr/bin/kcat') ? false : 'kcat is not installed' }, async (t) => {
  const { env, port } = await demoEnv(t)
  const demo = await startDemo(t, env)
  t.ok(demo.kcat, 'the wrapper started a broker')
  await waitFor('the simulated agents registered', async () => (await agentsOf(port, demo)).length === AGENTS)
  const before = demo.output().length

  const started = Date.now()
  process.kill(-demo.kcat!, 'SIGKILL')
  const { code } = await exited(demo.npm)
  const after = demo.output().slice(before)
  t.not(code, 0, `the demo failed (exit ${code})`)
  t.ok(Date.now() - started < 35_000, `and stopped in ${Date.now() - started} ms`)
  t.match(after, /local-servers: the local broker \(kcat, pid \d+\) is gone; stopping the command/, 'the wrapper says why')
  t.ok((after.match(/broker unreachable/g) ?? []).length <= 1, 'serve says once that the broker is unreachable')
  t.equal((after.match(/"logger":"kafkajs"/g) ?? []).length, 0, 'no kafkajs line of its retries')
  t.ok((after.match(/fleet: send failed/g) ?? []).length <= 1, 'the fleet says at most once that its sends fail')
  t.notMatch(after, /took over \d+ s/, 'its stop did not hang')
  await allGone(t, demo, port)
})
