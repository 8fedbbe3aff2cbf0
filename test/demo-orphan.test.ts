/**
 * The demo when a parent dies without a word (SIGKILL: no handler, no trap
 * runs): npm killed, the shell wrapper notices it was orphaned and stops
 * node; the wrapper killed, node notices and stops, and the broker the
 * wrapper started goes when the last of them is gone. Nothing is left, the
 * port is free, and a start after a hard kill works.
 */
import t from 'tap'
import { allGone, demoEnv, startDemo } from './helper-demo.js'
import { exited } from './helper-process.js'

t.test('npm or the wrapper killed outright: nothing is left, and the next start works', async (t) => {
  const { env, port } = await demoEnv(t)

  const first = await startDemo(t, env)
  process.kill(first.npm.pid!, 'SIGKILL')
  await allGone(t, first, port)

  const second = await startDemo(t, env)
  t.equal(second.clientId, first.clientId, 'a start after a hard kill reuses the demo client')
  process.kill(second.wrapper.pid, 'SIGKILL')
  await exited(second.npm)
  await allGone(t, second, port)
})
