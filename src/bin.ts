#!/usr/bin/env node
// The installed `spotfleet` executable; everything else lives in cli.ts.
import { main } from './cli.js'

// A reader that went away must not crash a process that is stopping cleanly: `npm start | tee log` and Ctrl-C
// kill tee with the same SIGINT, and what the demo prints while it stops would throw EPIPE. What it still
// writes to that stream is dropped (a write to the closed stream fails again, as ERR_STREAM_DESTROYED).
const READER_GONE = new Set(['EPIPE', 'ERR_STREAM_DESTROYED'])
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => { if (!READER_GONE.has(err.code ?? '')) throw err })
}

const code = await main(process.argv.slice(2))
// A command that failed part way (a broker lost while the demo started) may leave clients retrying that would
// keep node alive for good: its error is printed, so it exits now. A command that succeeded ends on its own.
if (code !== 0) process.exit(code)
process.exitCode = code
