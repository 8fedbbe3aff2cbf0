/**
 * The demo's output read by a process that goes away before it stops
 * (`npm start | tee demo.log`, then Ctrl-C, which kills tee with the same
 * SIGINT): the demo's last lines then meet a closed pipe. It must still stop
 * cleanly, exit 0 and leave nothing behind.
 */
import t from 'tap'
import { allGone, demoEnv, startDemo } from './helper-demo.js'
import { exited } from './helper-process.js'

t.test('stdout and stderr closed by their reader, then Ctrl-C: exit 0, nothing left', async (t) => {
  const { env, port } = await demoEnv(t)
  // Info logs too: serve's logger then writes its shutdown lines into the closed pipe as well.
  const demo = await startDemo(t, { ...env, LOG_LEVEL: 'info' })
  demo.npm.stdout.destroy()
  demo.npm.stderr.destroy()
  // The terminal's Ctrl-C: SIGINT to every process of the foreground group.
  process.kill(-demo.npm.pid!, 'SIGINT')
  t.same(await exited(demo.npm), { code: 0, signal: null }, 'npm exits 0')
  await allGone(t, demo, port)
})
