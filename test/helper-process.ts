/**
 * Test helpers for spawned process trees: build dist/ when it is older than
 * the sources, list the live processes (from /proc), wait for an exit, and
 * find a free port.
 */
import { execFileSync, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function newestMtime(dir: string): number {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return newest
}

/** `npm test` builds before tap runs; a single file run on its own builds here when dist/ is stale. */
export function ensureBuilt(): void {
  const bin = path.join(ROOT, 'dist/src/bin.js')
  let built = 0
  try { built = statSync(bin).mtimeMs } catch { /* not built */ }
  if (built < Math.max(newestMtime(path.join(ROOT, 'src')), newestMtime(path.join(ROOT, 'db')))) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' })
  }
}

export interface Proc { pid: number, ppid: number, pgid: number, cmd: string }

/** Every live process (zombies excluded: they are gone, only not yet reaped). */
export function processes(): Proc[] {
  const out: Proc[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (rest[0] === 'Z') continue
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()
      out.push({ pid: Number(name), ppid: Number(rest[1]), pgid: Number(rest[2]), cmd })
    } catch { /* exited while we looked */ }
  }
  return out
}

export const alive = (pid: number) => processes().some((p) => p.pid === pid)

export function exited(child: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

/** True when nothing listens on the port (we can bind it). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}
