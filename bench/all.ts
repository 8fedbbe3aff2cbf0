/**
 * `npm run bench`: every bench in turn, one table of the figures that matter
 * next to their floors and goals, printed and written to bench/results.md.
 * Each bench runs as its own process (as `npm run bench:x` would, so one
 * cannot warm or load the next); ingest hands over JSON (--json), replay and
 * API are read from the lines they print. Their own output goes to stderr
 * as they run.
 *
 *   npm run bench                  (about 10 minutes on two idle cores)
 *   BENCH_QUICK=1 npm run bench    (small sizes, a few minutes: checks the whole table end to end; its figures
 *                                   say nothing about the goals)
 *
 * Each size can also be set alone: INGEST_EVENTS, INGEST_AGENTS, LIVE_RATE, LIVE_SECONDS, LIVE_AGENTS,
 * REPLAY_EVENTS, API_AGENTS, API_DAYS, API_SECONDS.
 */
import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { writeFile } from 'node:fs/promises'
import type { BacklogResult, LiveResult } from './ingest.js'

/** Runs `node dist/bench/<file>` and returns its stdout (also copied to stderr). */
function run(file: string, args: string[] = [], env: Record<string, string> = {}): Promise<{ out: string, ok: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`dist/bench/${file}`, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d; process.stderr.write(d) })
    child.on('close', (code) => resolve({ out, ok: code === 0 }))
  })
}

const QUICK = process.env.BENCH_QUICK === '1'
/** A size: its environment knob, else the issue's size, or a small one in quick mode. */
const size = (knob: string, full: number, quick: number) => Number(process.env[knob] ?? (QUICK ? quick : full))
const SIZES = {
  ingestEvents: size('INGEST_EVENTS', 100_000, 5_000), ingestAgents: size('INGEST_AGENTS', 1_000, 100),
  liveRate: size('LIVE_RATE', 5_000, 500), liveSeconds: size('LIVE_SECONDS', 30, 8), liveAgents: size('LIVE_AGENTS', 1_000, 100),
  replayEvents: size('REPLAY_EVENTS', 1_000_000, 20_000),
  apiAgents: size('API_AGENTS', 1_000, 50), apiDays: size('API_DAYS', 30, 2), apiSeconds: size('API_SECONDS', 10, 2),
}

const fmt = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'))
const num = (s: string | undefined) => (s === undefined ? undefined : Number(s.replace(/,/g, '')))
const lastJson = <T>(out: string): T | undefined => {
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'))
  return line ? JSON.parse(line) : undefined
}
const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : 'not met')

interface Row { figure: string, measured: string, against: string, goal: string }

async function main(): Promise<void> {
  const started = new Date()
  const load = () => loadavg().map((x) => x.toFixed(2)).join(' ')
  const rows: Row[] = []

  const backlog = lastJson<BacklogResult>((await run('ingest.js', ['--events', String(SIZES.ingestEvents), '--agents', String(SIZES.ingestAgents), '--json'])).out)
  const floor = backlog && Math.min(backlog.floors.kafkajs.perSec, backlog.floors.insert.perSec)
  rows.push({
    figure: `ingest, ${fmt(backlog?.service.events)} mixed events from ${fmt(backlog?.options.agents)} agents (events/s end to end, every table committed)`,
    measured: fmt(backlog?.service.perSec),
    against: `kafkajs ${fmt(backlog?.floors.kafkajs.perSec)} msg/s; mysql2 INSERT of the event_log rows ${fmt(backlog?.floors.insert.perSec)}/s; of every row the service wrote ${fmt(backlog?.floors.allRows?.perSec)} events/s`,
    goal: `≥ 50 % of the lower floor (${fmt(floor && floor / 2)}): ${backlog ? `${backlog.percentOfLowerFloor} %, ${verdict(backlog.percentOfLowerFloor >= 50)}` : 'not measured'}`,
  })
  if (backlog) {
    rows.push({ figure: 'ingest: statements per transaction (round trips)', measured: `${backlog.statementsPerTransaction}`, against: `${fmt(backlog.transactions)} transactions of ~${fmt(backlog.service.events / Math.max(1, backlog.transactions))} events`, goal: 'constant as the batch grows' })
  }

  const live = lastJson<LiveResult>((await run('ingest.js', ['--mode', 'live', '--rate', String(SIZES.liveRate), '--seconds', String(SIZES.liveSeconds), '--agents', String(SIZES.liveAgents), '--json'])).out)
  // Kept up: the service committed what was produced, and the lag left when the stream stopped drained at once (a growing lag takes as long as it grew).
  const producedPerSec = live ? live.produced / live.options.seconds : undefined
  const keptUp = live && producedPerSec !== undefined ? live.sustainedPerSec >= 0.95 * producedPerSec && live.lag.drainSeconds <= 2 : undefined
  rows.push({
    figure: `live stream: ${fmt(live?.options.rate)} events/s from ${fmt(live?.options.agents)} agents in producer batches every ${fmt(live?.options.batchMs)} ms (events/s committed)`,
    measured: fmt(live?.sustainedPerSec),
    against: live ? `${fmt(producedPerSec)} events/s produced; lag max ${fmt(live.lag.max)}, at the end ${fmt(live.lag.end)}, drained in ${live.lag.drainSeconds.toFixed(1)} s` : 'n/a',
    goal: `keep up, lag bounded (≥ 95 % of the produced rate, drained within 2 s): ${verdict(keptUp)}`,
  })
  rows.push({
    figure: `decision latency: termination notice → command.promote_replica, under ${fmt(live?.options.rate)} events/s from ${fmt(live?.options.agents)} agents`,
    measured: live ? `p50 ${live.promote.p50} ms, p99 ${live.promote.p99} ms (n=${live.promote.n})` : 'n/a',
    against: live ? `sustained ${fmt(live.sustainedPerSec)} events/s, lag max ${fmt(live.lag.max)}, at the end ${fmt(live.lag.end)}; ${live.appliers} applier(s), buffer pool ${fmt(live.bufferPoolMb)} MB` : 'n/a',
    goal: `p99 < 250 ms: ${verdict(live && live.promote.n > 0 ? live.promote.p99 < 250 : undefined)}`,
  })

  const replay = await run('replay.js', [], { EVENTS: String(SIZES.replayEvents) })
  const r = /= ([\d,]+) input events\/s, ([\d,]+) log rows\/s/.exec(replay.out)
  const inputs = /\(([\d,]+) input events\) rebuilt/.exec(replay.out)
  rows.push({ figure: `replay --from log, ${fmt(num(inputs?.[1]))} events in the log (events/s, every projection rebuilt and swapped in)`, measured: fmt(num(r?.[1])), against: `${fmt(num(r?.[2]))} log rows/s`, goal: r ? `≥ 50,000/s: ${verdict(num(r[1])! >= 50_000)}` : 'not measured' })

  const api = await run('api.js', [], { AGENTS: String(SIZES.apiAgents), DAYS: String(SIZES.apiDays), SECONDS: String(SIZES.apiSeconds) })
  let apiRows = 0
  for (const m of api.out.matchAll(/^\| ([^|]+) \| ([\d.]+) \| ([\d.]+) \| ([\d,]+) \|/gm)) {
    rows.push({ figure: `API: ${m[1]!.trim()} (${fmt(SIZES.apiAgents)} agents, ${SIZES.apiDays} days of prices)`, measured: `p50 ${m[2]} ms, p99 ${m[3]} ms`, against: `${m[4]} req/s`, goal: `p99 < 20 ms: ${verdict(Number(m[3]) < 20)}` })
    apiRows++
  }
  if (!api.ok || apiRows === 0) rows.push({ figure: 'API', measured: 'n/a', against: 'bench/api.ts failed or printed no route', goal: 'not measured' })

  const table = [
    '| figure | measured | floor / context | goal |', '|---|---|---|---|',
    ...rows.map((x) => `| ${x.figure} | ${x.measured} | ${x.against} | ${x.goal} |`),
  ].join('\n')
  const text = `# Benchmark results\n\n${started.toISOString()}, node ${process.version}, load average ${load()} at the end (the figures hold only on an otherwise idle machine).${QUICK ? ' Quick mode (BENCH_QUICK=1): small sizes, to check the bench end to end; the figures say nothing about the goals.' : ''}\n\n${table}\n`
  console.log(text)
  await writeFile('bench/results.md', text)
}

await main()
