/**
 * Scale-out and crash takeover with real `serve` processes: three instances
 * in one consumer group on one database split the partitions; a seeded fleet
 * history (registrations, replicas, heartbeats, metrics, recommendations,
 * termination notices, re-sent copies; fixtures/fleet-stream.ts) is produced
 * while one instance, the outbox relay's holder, is killed with SIGKILL at a
 * seeded point, and a second one later. Next to them an in-process consumer of its own group
 * applies the same topics to a second database: the single-instance run.
 * Every unique event is stored once, every notice answered exactly once, no
 * input decided twice, every command published, the relay moved to a
 * survivor within seconds, and the agents equal the single-instance run's.
 * SCALE_SEED=<n> runs a given seed again.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import { z } from 'zod'
import type { Database } from '../../src/db/database.js'
import { ensureTopics } from '../../src/demo.js'
import { createEventProducer } from '../../src/events/producer.js'
import { type Topics, inputTopics } from '../../src/events/schemas.js'
import { createIngestConsumer } from '../../src/ingest/consumer.js'
import { pipeline } from '../../src/wiring.js'
import { freshDatabase } from '../helper-db.js'
import { kafkaFor, uniqueName, uniqueTopics, waitFor } from '../helper-kafka.js'
import { ROOT, ensureBuilt, exited, freePort } from '../helper-process.js'
import { caughtUp } from './fixtures/steps.js'
import { fleetStream, seeded } from './fixtures/fleet-stream.js'

const SEED = Number(process.env.SCALE_SEED ?? Math.floor(Math.random() * 2 ** 31))
// Short group timing keeps a takeover to seconds (README "Running at scale" has the defaults and why).
const TIMING = { KAFKA_SESSION_TIMEOUT_MS: '4000', KAFKA_HEARTBEAT_INTERVAL_MS: '500', KAFKA_FETCH_MAX_WAIT_MS: '100' }
const RELAY_FAILOVER_BOUND_MS = 10_000

const Readyz = z.object({ assignment: z.record(z.string(), z.array(z.number())), relay: z.boolean() })

interface Instance { name: string, child: ChildProcess, port: number, output: () => string }

async function readyz(i: Instance): Promise<z.infer<typeof Readyz> | undefined> {
  try {
    const r = Readyz.safeParse(await (await fetch(`http://127.0.0.1:${i.port}/readyz`)).json())
    return r.success ? r.data : undefined
  } catch {
    return undefined
  }
}
const partitionsOf = async (i: Instance) => Object.values((await readyz(i))?.assignment ?? {}).reduce((n, p) => n + p.length, 0)

async function caughtUpAll(db: Kysely<Database>, kafka: ReturnType<typeof kafkaFor>, topics: Topics): Promise<boolean> {
  for (const topic of [topics.spotInterruptions, topics.replicaEvents, topics.agentEvents, topics.pricingSnapshots]) {
    if (!(await caughtUp(db, kafka, topic))) return false
  }
  return true
}

/**
 * The agent rows as the rules left them: timestamps of writing left out, and
 * last_failover_at too (the decision's clock: it differs between two runs,
 * and a replay takes it from the recorded decision).
 */
const agentRows = (db: Kysely<Database>) => sql`SELECT id, client_id, instance_id, current_pool_id, current_mode, status, spot_price, ondemand_price,
  current_replica_id, last_interruption_signal, last_failover_at IS NOT NULL AS failed_over, interruption_handled_count, last_heartbeat_at, instance_at, former_instance_ids,
  auto_switch_enabled, manual_replica_enabled FROM agents ORDER BY id`.execute(db).then((r) => r.rows)
const replicaRows = (db: Kysely<Database>) => sql`SELECT id, agent_id, status, instance_id, pool_id, sync_status FROM replica_instances ORDER BY id`.execute(db).then((r) => r.rows)

t.test(`three serve processes, two killed with SIGKILL (seed ${SEED})`, async (t) => {
  t.comment(`seed ${SEED} (SCALE_SEED=${SEED} to run it again)`)
  ensureBuilt()
  const rnd = seeded(SEED)
  const multi = await freshDatabase(t, { migrate: true })
  const single = await freshDatabase(t, { migrate: true })
  const kafka = kafkaFor()
  const topics = uniqueTopics()
  await ensureTopics(kafka, topics)
  const groupId = uniqueName('scale')
  const env = {
    ...process.env, ...TIMING, DATABASE_URL: `${multi.url.replace(/\/[^/]*$/, '')}/${multi.name}`, KAFKA_GROUP_ID: groupId,
    LOG_LEVEL: 'warn', REBALANCE_POLICY: 'ignore',
    TOPIC_SPOT_INTERRUPTIONS: topics.spotInterruptions, TOPIC_REPLICA_EVENTS: topics.replicaEvents, TOPIC_AGENT_EVENTS: topics.agentEvents,
    TOPIC_PRICING_SNAPSHOTS: topics.pricingSnapshots, TOPIC_REPLICA_COMMANDS: topics.replicaCommands,
  }
  const start = async (name: string): Promise<Instance> => {
    const port = await freePort()
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/src/bin.js'), 'serve'], { env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited(child)
      if (!t.passing()) console.error(`--- ${name}:\n${out.slice(-4000)}`)
    })
    return { name, child, port, output: () => out }
  }
  const instances = await Promise.all(['a', 'b', 'c'].map(start))

  // The single-instance run: the same topics, a group and a database of its own, the same rules.
  const reference = createIngestConsumer({
    kafka, db: single.db, groupId: uniqueName('single'), pipeline: pipeline({ rebalancePolicy: 'ignore', recentInterruptionMinutes: 10 }),
    topics: inputTopics(topics), sessionTimeoutMs: 6_000,
  })
  t.teardown(() => reference.stop())
  await reference.start()

  await waitFor('the three instances sharing the 16 partitions', async () => {
    const counts = await Promise.all(instances.map(partitionsOf))
    return counts.every((n) => n > 0) && counts.reduce((a, b) => a + b, 0) === 16
  }, 60_000, 200)

  const stream = fleetStream(SEED, 12)
  const producer = createEventProducer(kafka, topics)
  await producer.connect()
  t.teardown(() => producer.disconnect())
  const bothCaughtUp = async (what: string) => waitFor(what, async () => (await caughtUpAll(multi.db, kafka, topics)) && caughtUpAll(single.db, kafka, topics), 60_000, 200)

  await producer.send(stream.phases[0]!)
  await bothCaughtUp('phase 1 applied')

  // Phases 2 and 3 in small paced sends; the relay's holder is killed at a seeded point of phase 2, another instance in phase 3.
  const firstKill = Math.floor(stream.phases[1]!.length * (0.2 + rnd() * 0.6))
  const secondKill = Math.floor(stream.phases[2]!.length * (0.2 + rnd() * 0.6))
  t.comment(`phases 2 and 3: ${stream.phases[1]!.length} and ${stream.phases[2]!.length} messages; kills after ${firstKill} of phase 2 and ${secondKill} of phase 3`)
  const holder = await waitFor('a relay holder', async () => {
    for (const i of instances) if ((await readyz(i))?.relay) return i
    return undefined
  }, 20_000)
  const alive = new Set(instances)
  let relayFailoverMs = -1
  const killRelayHolder = async () => {
    holder!.child.kill('SIGKILL')
    const killedAt = Date.now()
    alive.delete(holder!)
    await exited(holder!.child)
    // A pending outbox row of its own (no agent decided it): how soon does a survivor publish it?
    const commandId = crypto.randomUUID()
    await multi.db.insertInto('outbox').values({ command_id: commandId, type: 'command.emergency_snapshot', client_id: stream.clientId, agent_id: crypto.randomUUID(), payload: JSON.stringify({ eventId: commandId, probe: true }), cause_event_id: null }).execute()
    await waitFor('the probe row published by a survivor', async () => (await multi.db.selectFrom('outbox').select('sent_at').where('command_id', '=', commandId).executeTakeFirst())?.sent_at, 30_000, 50)
    relayFailoverMs = Date.now() - killedAt
    t.comment(`relay failover: a pending row published ${relayFailoverMs} ms after the holder's SIGKILL`)
  }
  const killAnother = async () => {
    const victim = [...alive][Math.floor(rnd() * alive.size)]!
    victim.child.kill('SIGKILL')
    alive.delete(victim)
    await exited(victim.child)
    t.comment(`killed ${victim.name}`)
  }
  const paced = async (events: typeof stream.phases[number], killAt: number, kill: () => Promise<void>) => {
    for (let i = 0; i < events.length; i += 5) {
      if (i <= killAt && killAt < i + 5) await kill()
      await producer.send(events.slice(i, i + 5))
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  await paced(stream.phases[1]!, firstKill, killRelayHolder)
  await bothCaughtUp('phase 2 applied by the survivors')
  await paced(stream.phases[2]!, secondKill, killAnother)
  t.ok(relayFailoverMs >= 0 && relayFailoverMs < RELAY_FAILOVER_BOUND_MS, `the relay moved to a survivor within ${RELAY_FAILOVER_BOUND_MS} ms (${relayFailoverMs} ms)`)
  await bothCaughtUp('phase 3 applied by the last instance')
  const [last] = [...alive]
  t.equal(await partitionsOf(last!), 16, 'the last instance took every partition over')
  t.ok((await readyz(last!))?.relay, 'and the relay')

  await producer.send(stream.phases[3]!)
  await bothCaughtUp('phase 4 applied')

  // Every unique event stored once.
  const unique = new Set(stream.phases.flat().map((e) => e.eventId))
  const stored = (await sql<{ event_id: string, n: number }>`SELECT event_id, COUNT(*) AS n FROM event_log WHERE source = 'kafka' GROUP BY event_id`.execute(multi.db)).rows
  t.equal(stored.length, unique.size, 'every unique event stored')
  t.same(stored.filter((r) => Number(r.n) !== 1), [], 'none twice')
  // Every notice answered exactly once: one failover or one emergency snapshot.
  const answers = (await sql<{ cause_event_id: string, type: string }>`SELECT cause_event_id, type FROM event_log
    WHERE type IN ('decision.failover_executed', 'decision.emergency_snapshot_requested')`.execute(multi.db)).rows
  for (const n of stream.notices) {
    const mine = answers.filter((a) => a.cause_event_id === n.eventId).map((a) => a.type)
    t.same(mine, [n.failover ? 'decision.failover_executed' : 'decision.emergency_snapshot_requested'], `notice of ${n.agentId.slice(0, 8)} answered once`)
  }
  // No input decided twice: one decision of a type per cause.
  const twice = (await sql`SELECT cause_event_id, type, COUNT(*) AS n FROM event_log WHERE source = 'decision' GROUP BY cause_event_id, type HAVING n > 1`.execute(multi.db)).rows
  t.same(twice, [], 'no input decided twice')
  // Commands: one outbox row per decided command, every one published.
  const outbox = await multi.db.selectFrom('outbox').select(['command_id', 'sent_at', 'cause_event_id']).where('cause_event_id', 'is not', null).execute()
  t.equal(outbox.length, stream.notices.length, 'one command per notice (promote or emergency snapshot)')
  await waitFor('every command published', async () => (await multi.db.selectFrom('outbox').select('id').where('sent_at', 'is', null).execute()).length === 0, 20_000)
  const published = new Set<string>()
  const reader = kafka.consumer({ groupId: uniqueName('read'), maxWaitTimeInMs: 100 })
  t.teardown(() => reader.disconnect())
  await reader.connect()
  await reader.subscribe({ topic: topics.replicaCommands, fromBeginning: true })
  await reader.run({ eachMessage: async ({ message }) => { published.add(String(JSON.parse(String(message.value)).eventId)) } })
  await waitFor('the commands on the topic', () => outbox.every((o) => published.has(o.command_id)), 30_000)
  t.pass('every command published at least once')

  // The same agents and replicas as the single-instance run.
  t.same(await agentRows(multi.db), await agentRows(single.db), 'agents equal the single-instance run')
  t.same(await replicaRows(multi.db), await replicaRows(single.db), 'replicas equal the single-instance run')
  t.equal((await agentRows(multi.db)).length, 12)
})
