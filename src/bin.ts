#!/usr/bin/env node
// The installed `spotfleet` executable; everything else lives in cli.ts.
import { main } from './cli.js'

const code = await main(process.argv.slice(2))
// A command that failed part way (a broker lost while the demo started) may leave clients retrying that would
// keep node alive for good: its error is printed, so it exits now. A command that succeeded ends on its own.
if (code !== 0) process.exit(code)
process.exitCode = code
