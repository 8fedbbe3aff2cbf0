/**
 * Progress of a replay: a cli-progress bar with events/s and ETA on a
 * terminal, a plain line every few seconds otherwise (logs, CI).
 */
import cliProgress from 'cli-progress'

export interface Progress {
  start(total: number, done: number): void
  update(done: number, total: number): void
  stop(): void
}

export const silentProgress: Progress = { start() {}, update() {}, stop() {} }

/** Where progress goes: a terminal (isTTY) gets the bar, anything else plain lines. */
export type ProgressStream = NodeJS.WritableStream & { readonly isTTY?: boolean }

export function progressFor(stream: ProgressStream = process.stderr, label = 'replay'): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream, format: `${label} [{bar}] {percentage}% | {value}/{total} events | {speed} events/s | ETA {eta_formatted}`,
      etaBuffer: 50, fps: 5,
    }, cliProgress.Presets.shades_classic)
    let startedAt = 0
    let from = 0
    return {
      start(total, done) { startedAt = performance.now(); from = done; bar.start(total, done, { speed: 0 }) },
      update(done, total) {
        const s = (performance.now() - startedAt) / 1000
        bar.setTotal(total)
        bar.update(done, { speed: s > 0 ? Math.round((done - from) / s) : 0 })
      },
      stop() { bar.stop() },
    }
  }
  let startedAt = 0
  let from = 0
  let lastLine = 0
  let last: { done: number, total: number, written: boolean } | undefined
  const line = (done: number, total: number) => {
    const s = (performance.now() - startedAt) / 1000
    const rate = s > 0 ? (done - from) / s : 0
    const eta = rate > 0 ? Math.round((total - done) / rate) : NaN
    stream.write(`${label}: ${done}/${total} events, ${Math.round(rate)} events/s, ETA ${Number.isNaN(eta) ? '?' : `${eta} s`}\n`)
  }
  return {
    start(total, done) { startedAt = performance.now(); lastLine = startedAt; from = done; stream.write(`${label}: ${done}/${total} events\n`) },
    update(done, total) {
      last = { done, total, written: false }
      if (performance.now() - lastLine < 2000) return
      lastLine = performance.now()
      line(done, total)
      last.written = true
    },
    // The last count too, when the lines every few seconds did not show it.
    stop() { if (last && !last.written) line(last.done, last.total) },
  }
}
