/** Runs the CLI's `main` in-process with `env` applied for the call, capturing what it prints. */
import type { Test } from 'tap'
import { main } from '../src/cli.js'

export async function runCli(t: Test, env: Record<string, string | undefined>, ...argv: string[]) {
  const saved = { ...process.env }
  Object.assign(process.env, env)
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]
  const out = t.capture(console, 'log')
  const err = t.capture(console, 'error')
  try {
    const code = await main(argv)
    return { code, stdout: out().map((c) => c.args.join(' ')).join('\n'), stderr: err().map((c) => c.args.join(' ')).join('\n') }
  } finally {
    process.env = saved
  }
}
