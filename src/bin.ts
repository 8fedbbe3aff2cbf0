#!/usr/bin/env node
// The installed `spotfleet` executable; everything else lives in cli.ts.
import { main } from './cli.js'

process.exitCode = await main(process.argv.slice(2))
