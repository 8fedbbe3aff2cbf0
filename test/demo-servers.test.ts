/**
 * The demo on servers of one's own: with DATABASE_URL and KAFKA_BROKERS set
 * (here the test's broker, topic names and group from the environment too),
 * the wrapper starts no broker, the demo creates the named topics there, the
 * simulated agents register through it, and a stop leaves the broker up.
 * Request logs stay out of the demo's console.
 */
import t from 'tap'
import { Kafka, logLevel } from 'kafkajs'
import { AGENTS, agentsOf, allGone, demoEnv, startDemo } from './helper-demo.js'
import { uniqueName, waitFor } from './helper-kafka.js'
import { exited } from './helper-process.js'

t.test('DATABASE_URL and KAFKA_BROKERS set: the demo uses them and starts no server', { skip: process.env.KAFKA_BROKERS ? false : 'needs KAFKA_BROKERS (scripts/local-servers.sh run)' }, async (t) => {
  const { env, port } = await demoEnv(t)
  const topics = {
    TOPIC_SPOT_INTERRUPTIONS: uniqueName('si'), TOPIC_REPLICA_EVENTS: uniqueName('re'), TOPIC_AGENT_EVENTS: uniqueName('ae'),
    TOPIC_PRICING_SNAPSHOTS: uniqueName('ps'), TOPIC_REPLICA_COMMANDS: uniqueName('rc'),
  }
  // LOG_LEVEL info: request logs would show, were they on.
  Object.assign(env, { KAFKA_BROKERS: process.env.KAFKA_BROKERS, KAFKA_GROUP_ID: uniqueName('demo'), LOG_LEVEL: 'info', ...topics })

  const demo = await startDemo(t, env)
  t.equal(demo.kcat, null, 'the wrapper started no broker')
  const agents = await waitFor('the simulated agents registered', async () => {
    const a = await agentsOf(port, demo)
    if (a.length !== AGENTS) throw new Error(`${a.length} agents so far`)
    return a
  })
  t.equal(agents.length, AGENTS, 'the simulated agents registered through the given broker')
  t.match(demo.output(), /Server listening/, 'serve\'s info lines reach the console')
  t.notMatch(demo.output(), /incoming request|request completed/, 'but no request log, after the requests above')
  const admin = new Kafka({ clientId: 'demo-servers-test', brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  const have = new Set(await admin.listTopics())
  t.same(Object.values(topics).filter((name) => !have.has(name)), [], 'the topics named in the environment exist on it')

  process.kill(demo.node.pid, 'SIGTERM')
  t.same(await exited(demo.npm), { code: 0, signal: null }, 'SIGTERM to node: npm exits 0')
  await allGone(t, demo, port)
  t.ok((await admin.describeCluster()).brokers.length > 0, 'the given broker is still up')
})
