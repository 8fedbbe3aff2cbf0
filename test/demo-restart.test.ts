/**
 * The demo as people and tools stop it: SIGTERM to npm (docker, an IDE's stop
 * button), then SIGINT to the node process alone. Each time the whole tree
 * goes (npm, the shell wrapper, node, the broker the wrapper started, the
 * port) and the exit code is 0. The second start works on what the first
 * left: the same demo client with a new token (the old one stops working),
 * the same simulated agents, no EADDRINUSE.
 */
import t from 'tap'
import { DEMO_CLIENT_NAME } from '../src/demo.js'
import { connection, databaseUrl } from './helper-db.js'
import { AGENTS, agentsOf, allGone, demoEnv, startDemo } from './helper-demo.js'
import { waitFor } from './helper-kafka.js'
import { exited } from './helper-process.js'

t.test('SIGTERM to npm, then a second start and SIGINT to node: all gone, exit 0 each time', async (t) => {
  const { env, port, dbName } = await demoEnv(t)

  const first = await startDemo(t, env)
  const agents = await waitFor('the simulated agents registered', async () => {
    const a = await agentsOf(port, first)
    return a.length === AGENTS ? a : undefined
  })
  process.kill(first.npm.pid!, 'SIGTERM')
  t.same(await exited(first.npm), { code: 0, signal: null }, 'SIGTERM to npm: npm exits 0')
  t.match(first.output(), /demo stopped/)
  await allGone(t, first, port)

  const second = await startDemo(t, env)
  t.equal(second.clientId, first.clientId, 'the demo client is reused')
  t.not(second.token, first.token, 'with a new token')
  t.match(second.output(), /reused, new token/)
  // The second start's broker is new (the first one's went with it): said once, in one line, not per partition.
  t.equal(second.output().match(/stored checkpoints were ahead/g)?.length, 1, 'one line says the stored checkpoints were ahead of the new broker')
  t.notMatch(second.output(), /stored checkpoint is ahead of the partition/, 'and no warning per partition')
  const again = await agentsOf(port, second)
  t.same(again.map((a) => a.id).sort(), agents!.map((a) => a.id).sort(), 'the same agents, not a second set')
  const stale = await fetch(`http://127.0.0.1:${port}/api/client/${first.clientId}/agents`, { headers: { authorization: `Bearer ${first.token}` } })
  t.equal(stale.status, 401, 'the previous token no longer works')
  process.kill(second.node.pid, 'SIGINT')
  t.same(await exited(second.npm), { code: 0, signal: null }, 'SIGINT to node: npm exits 0')
  await allGone(t, second, port)

  const conn = await connection(databaseUrl(), dbName)
  const [rows] = await conn.query('SELECT COUNT(*) AS n FROM clients WHERE name = ?', [DEMO_CLIENT_NAME])
  t.same(rows, [{ n: 1 }], 'one demo client after two starts')
  const [dead] = await conn.query('SELECT reason, COUNT(*) AS n FROM dead_letter_events GROUP BY reason')
  t.same(dead, [], 'two healthy runs parked no message as a dead letter')
  await conn.end()
})
