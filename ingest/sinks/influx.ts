/**
 * The InfluxDB telemetry sink: lossless by construction.
 *
 * Records become line protocol at once and wait in memory as blocks: the lines of one call,
 * newline-separated, UTF-8 encoded in a Buffer, with their count. Buffer memory lies outside the
 * JavaScript heap, so a batch waiting for its write is not copied by every young-generation
 * collection (with one string per line, the sink's share of GC pauses was larger than its
 * encoding). One pump writes batches of `batchSize` lines (by size, or by time), one request in
 * flight; a block is split where a batch ends. A failed batch is retried with exponential
 * backoff and jitter (honouring Retry-After); if it keeps failing for `spoolAfterMs`, or memory
 * fills, it goes to the on-disk spool, and from then on everything new queues behind it on disk
 * until the spool has been replayed in order. Points are keyed by series and event time, so a
 * batch written twice (a reply lost after the server stored it, a replay after a crash)
 * overwrites itself instead of counting twice.
 */
import type { Registry } from 'prom-client'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import type { PipelineStats, SinkState, SinkStateName, TelemetrySink } from '../sink.ts'
import { describeInfluxConfig, type InfluxConfig } from './influx-config.ts'
import { healthLines, pipelineLine, readingLines, ticketLine, warningLine } from './influx-lines.ts'
import { createWriter, WriteFailure, type InfluxWriter } from './influx-writers.ts'
import { setStateGauge, sinkMetrics, type SinkMetrics } from './sink-metrics.ts'
import { openSpool, type Spool } from './spool.ts'

export interface SinkLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface InfluxSinkOptions {
  /** Where batches wait while the database is down; null keeps them in memory only (lost on a crash). */
  spoolDir: string | null
  name?: string
  maxSpoolBytes?: number
  batchSize?: number
  flushIntervalMs?: number
  /** Backpressure starts at this many lines in memory and ends at half of it. */
  maxBufferLines?: number
  /** Hard memory limit (when the spool is full or absent): beyond it the oldest lines are dropped and counted. */
  maxMemoryLines?: number
  /** How long a batch is retried from memory before it is parked in the spool. */
  spoolAfterMs?: number
  minRetryDelayMs?: number
  maxRetryDelayMs?: number
  /** Upper bound on a server's Retry-After that we honour. */
  maxRetryAfterMs?: number
  requestTimeoutMs?: number
  closeTimeoutMs?: number
  /** Writes `pipeline,stage=sink` statistics this often; 0 turns them off. */
  statsIntervalMs?: number
  /** Probe the database at start and fail on a wrong token, user, bucket or database. */
  validate?: boolean
  registry?: Registry
  /** Metrics to record into instead of the registry's (the worker-thread sink forwards them). */
  metrics?: SinkMetrics
  log?: SinkLogger
  random?: () => number
  now?: () => number
  /** Replaces the HTTP writer (tests of the retry logic). */
  writer?: InfluxWriter
}

/** Lines in memory at which a sink starts pushing back. */
export const defaultMaxBufferLines = 50_000

const defaults = {
  name: 'influxdb',
  maxSpoolBytes: 512 * 1024 * 1024,
  batchSize: 5000,
  flushIntervalMs: 1000,
  maxBufferLines: defaultMaxBufferLines,
  spoolAfterMs: 5_000,
  minRetryDelayMs: 250,
  maxRetryDelayMs: 30_000,
  maxRetryAfterMs: 300_000,
  requestTimeoutMs: 10_000,
  closeTimeoutMs: 10_000,
  statsIntervalMs: 10_000,
}

const NL = 0x0a
const EMPTY = Buffer.alloc(0)

const silent: SinkLogger = { info() {}, warn() {}, error() {} }

interface Batch {
  /** Blocks of newline-separated lines; `lines` counts the lines in all of them. */
  blocks: Buffer[]
  lines: number
  /** Spool segment id, or null for a batch taken from memory. */
  segId: number | null
  firstFailAt: number | null
}

/** A sink that also takes line protocol encoded elsewhere (how the worker thread's sink is fed). */
export interface LineSink extends TelemetrySink {
  /** `lines` lines of line protocol joined by newlines. */
  writeLines(text: string, lines: number): void
}

type LineWriters = Pick<TelemetrySink, 'writeReadings' | 'writeHealth' | 'writeWarning' | 'writeTicketEvent' | 'writePipeline'>

/** The typed write methods of a sink, as line protocol handed to `enqueue(text, lines)`. */
export function lineWriters(enqueue: (text: string, lines: number) => void): LineWriters {
  return {
    writeReadings(batch) {
      const lines: string[] = []
      readingLines(batch, lines)
      enqueue(lines.join('\n'), lines.length)
    },
    writeHealth(deviceId, tags, core, atMs) {
      const lines: string[] = []
      healthLines(deviceId, tags, core, atMs, lines)
      enqueue(lines.join('\n'), lines.length)
    },
    writeWarning(ev, tags, detectedAtMs) {
      const l = warningLine(ev, tags, detectedAtMs)
      if (l) enqueue(l, 1)
    },
    writeTicketEvent(e) {
      const l = ticketLine(e)
      if (l) enqueue(l, 1)
    },
    writePipeline(stage: string, s: PipelineStats, atMs: number) {
      const l = pipelineLine(stage, s, atMs)
      if (l) enqueue(l, 1)
    },
  }
}

export async function createInfluxSink(config: InfluxConfig, opts: InfluxSinkOptions): Promise<LineSink> {
  const o = { ...defaults, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof defaults & InfluxSinkOptions
  const maxMemoryLines = o.maxMemoryLines ?? o.maxBufferLines * 4
  const log = o.log ?? silent
  const now = o.now ?? Date.now
  const random = o.random ?? Math.random
  const name = o.name
  const m = o.metrics ?? sinkMetrics(o.registry)
  const writer = o.writer ?? createWriter(config, o.requestTimeoutMs, o.batchSize)
  const spool: Spool | null = o.spoolDir === null ? null : await openSpool(o.spoolDir)

  // Blocks waiting in memory, their line counts, and the total.
  let queue: Buffer[] = []
  let counts: number[] = []
  let qHead = 0
  let queuedLines = 0
  let current: Batch | null = null
  let accepted = 0
  let settled = 0
  let due = false
  let mode: SinkStateName = spool && spool.segments() > 0 ? 'spooling' : 'writing'
  let lastError: string | undefined
  let failStreak = 0
  let retryAt = 0
  let closing = false
  let stopped = false
  let backpressure = false
  const drainCallbacks: (() => void)[] = []
  const flushWaiters: { target: number; resolve: () => void }[] = []
  let pumping: Promise<void> | null = null
  let wake: (() => void) | null = null
  const stats = { batchPoints: 0, writeMs: 0, retries: 0 }

  const memLines = (): number => queuedLines
  const pending = (): number => memLines() + (current && current.segId === null ? current.lines : 0) + (spool?.lines() ?? 0)

  function setMode(next: SinkStateName): void {
    if (next === mode) return
    log.info({ sink: name, from: mode, to: next, spoolBytes: spool?.bytes() ?? 0 }, 'sink state changed')
    mode = next
    setStateGauge(m, name, mode)
  }

  function updateGauges(): void {
    m.pending.set({ sink: name }, pending())
    m.spoolBytes.set({ sink: name }, spool?.bytes() ?? 0)
    m.backpressure.set({ sink: name }, backpressure ? 1 : 0)
  }

  function settle(n: number): void {
    settled += n
    while (flushWaiters.length > 0 && (flushWaiters[0] as { target: number }).target <= settled) flushWaiters.shift()?.resolve()
  }

  function checkPressure(): void {
    const n = memLines()
    if (!backpressure && n >= o.maxBufferLines) backpressure = true
    else if (backpressure && n <= o.maxBufferLines / 2) {
      backpressure = false
      // One-shot: each waiter is released once, so callers may register per paused publish.
      for (const cb of drainCallbacks.splice(0)) cb()
    }
  }

  /** The oldest `n` lines in memory (fewer when there are fewer), splitting a block if need be. */
  function take(n: number): { blocks: Buffer[]; lines: number } {
    const blocks: Buffer[] = []
    let lines = 0
    while (lines < n && qHead < queue.length) {
      const block = queue[qHead] as Buffer
      const c = counts[qHead] as number
      if (lines + c <= n) {
        blocks.push(block)
        lines += c
        queue[qHead] = EMPTY
        qHead++
        continue
      }
      const k = n - lines
      let at = -1
      for (let i = 0; i < k; i++) at = block.indexOf(NL, at + 1)
      blocks.push(block.subarray(0, at))
      queue[qHead] = block.subarray(at + 1)
      counts[qHead] = c - k
      lines += k
    }
    queuedLines -= lines
    if (qHead === queue.length) {
      queue = []
      counts = []
      qHead = 0
    } else if (qHead > 4096 && qHead * 2 > queue.length) {
      queue = queue.slice(qHead)
      counts = counts.slice(qHead)
      qHead = 0
    }
    checkPressure()
    return { blocks, lines }
  }

  function kick(): void {
    if (stopped) return
    if (wake) {
      const w = wake
      wake = null
      w()
    }
    pumping ??= pump().finally(() => {
      pumping = null
      if (!stopped && (memLines() >= o.batchSize || (due && memLines() > 0))) kick()
    })
  }

  /** Queues `lines` lines joined by newlines (one line: the line itself). */
  function enqueue(text: string, lines: number): void {
    if (lines === 0) return
    if (closing) {
      m.dropped.inc({ sink: name, reason: 'closed' }, lines)
      return
    }
    queue.push(Buffer.from(text, 'utf8'))
    counts.push(lines)
    queuedLines += lines
    accepted += lines
    if (memLines() > maxMemoryLines) {
      const over = memLines() - maxMemoryLines
      take(over)
      m.dropped.inc({ sink: name, reason: 'memory_limit' }, over)
      lastError = `memory limit of ${maxMemoryLines} lines reached with the spool ${spool ? 'full' : 'off'}: dropped ${over} oldest lines`
      log.error({ sink: name, dropped: over }, lastError)
      settle(over)
    }
    checkPressure()
    if (memLines() >= o.batchSize) kick()
  }

  function backoffMs(retryAfterMs: number | null): number {
    if (retryAfterMs !== null) return Math.min(retryAfterMs, o.maxRetryAfterMs)
    const exp = Math.min(o.maxRetryDelayMs, o.minRetryDelayMs * 2 ** Math.min(failStreak - 1, 30))
    // "Equal jitter": half fixed, half random, so a fleet of sinks does not retry in step.
    return exp / 2 + random() * (exp / 2)
  }

  async function spill(all: boolean): Promise<void> {
    if (!spool) return
    while (memLines() > 0 && (all || memLines() >= o.batchSize) && spool.bytes() < o.maxSpoolBytes) {
      const b = take(o.batchSize)
      await spool.append(b.blocks, b.lines)
      settle(b.lines)
    }
    updateGauges()
  }

  /** Moves a failing in-memory batch to disk: it must stay ahead of everything behind it. */
  async function park(batch: Batch): Promise<void> {
    if (!spool || batch.segId !== null || spool.bytes() >= o.maxSpoolBytes) return
    await spool.append(batch.blocks, batch.lines)
    settle(batch.lines)
    current = null
    setMode('spooling')
    updateGauges()
    log.warn({ sink: name, lines: batch.lines, spoolBytes: spool.bytes() }, 'database unavailable: batch spooled to disk')
  }

  async function nextBatch(): Promise<Batch | null> {
    if (spool && spool.segments() > 0) {
      const head = await spool.head()
      if (head) return { blocks: head.blocks, lines: head.lines, segId: head.id, firstFailAt: null }
    }
    const n = memLines()
    if (n >= o.batchSize || (due && n > 0)) return { ...take(o.batchSize), segId: null, firstFailAt: null }
    due = false
    return null
  }

  async function done(batch: Batch, written: boolean): Promise<void> {
    if (batch.segId !== null) await spool?.remove(batch.segId)
    else settle(batch.lines)
    if (written) m.written.inc({ sink: name }, batch.lines)
    current = null
  }

  async function attempt(batch: Batch): Promise<boolean> {
    const started = now()
    try {
      await writer.write(batch.blocks)
    } catch (err) {
      const f = err instanceof WriteFailure ? err : new WriteFailure('retry', null, String(err), null, err)
      if (f.kind === 'refused') {
        // The database refused the data itself; sending it again cannot succeed. Counted, logged, moved past.
        m.batches.inc({ sink: name, result: 'refused' })
        m.dropped.inc({ sink: name, reason: 'refused' }, batch.lines)
        lastError = f.message
        const first = batch.blocks[0] ?? EMPTY
        const end = first.indexOf(NL)
        log.error({ sink: name, lines: batch.lines, status: f.status, err: f.message, first: first.subarray(0, end < 0 ? first.length : end).toString('utf8') }, 'database refused a batch')
        await done(batch, false)
        return true
      }
      failStreak++
      stats.retries++
      m.retries.inc({ sink: name })
      m.batches.inc({ sink: name, result: 'failed' })
      lastError = f.message
      batch.firstFailAt ??= started
      retryAt = now() + backoffMs(f.retryAfterMs)
      if (failStreak === 1 || failStreak % 10 === 0) log.warn({ sink: name, err: f.message, failStreak, kind: f.kind }, 'write failed, will retry')
      setMode(spool && spool.segments() > 0 ? 'spooling' : 'retrying')
      return false
    }
    const ms = now() - started
    m.batches.inc({ sink: name, result: 'ok' })
    m.writeSeconds.observe({ sink: name }, ms / 1000)
    stats.batchPoints += batch.lines
    stats.writeMs += ms
    failStreak = 0
    retryAt = 0
    await done(batch, true)
    setMode(spool && spool.segments() > 0 ? 'spooling' : 'writing')
    return true
  }

  function sleepUntil(t: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, Math.max(0, t - now()))
      function finish(): void {
        clearTimeout(timer)
        if (wake === finish) wake = null
        resolve()
      }
      wake = finish
    })
  }

  async function pump(): Promise<void> {
    try {
      while (!stopped) {
        if (current && current.segId === null && current.firstFailAt !== null && spool) {
          if (now() - current.firstFailAt >= o.spoolAfterMs || memLines() >= o.maxBufferLines) await park(current)
        }
        // Anything on disk is older than memory, so new lines queue behind it there.
        if (spool && spool.segments() > 0) await spill(closing || due)
        if (now() < retryAt) {
          await sleepUntil(retryAt)
          continue
        }
        current ??= await nextBatch()
        if (!current) break
        await attempt(current)
        updateGauges()
      }
    } catch (err) {
      // Only the spool's disk IO lands here; keep the batch and try again later.
      lastError = `spool: ${(err as Error).message}`
      log.error({ sink: name, err: lastError }, 'spool IO failed')
      retryAt = now() + o.maxRetryDelayMs
    } finally {
      updateGauges()
    }
  }

  const flushTimer = setInterval(() => {
    if (memLines() > 0) {
      due = true
      kick()
    }
  }, o.flushIntervalMs)
  flushTimer.unref()

  const statsTimer =
    o.statsIntervalMs > 0
      ? setInterval(() => {
          const l = pipelineLine('sink', { batch_points: stats.batchPoints, write_ms: stats.writeMs, retries: stats.retries, spool_bytes: spool?.bytes() ?? 0 }, now())
          stats.batchPoints = stats.writeMs = stats.retries = 0
          if (l) enqueue(l, 1)
        }, o.statsIntervalMs)
      : null
  statsTimer?.unref()

  setStateGauge(m, name, mode)
  updateGauges()

  if (o.validate !== false) {
    const probe = pipelineLine('sink', { spool_bytes: spool?.bytes() ?? 0, retries: 0 }, now()) as string
    try {
      await writer.validate(probe)
    } catch (err) {
      if (err instanceof ForewarnError && err.code === ErrorCode.CONFIG) {
        clearInterval(flushTimer)
        if (statsTimer) clearInterval(statsTimer)
        await writer.close()
        throw err
      }
      // Unreachable right now is not a configuration error: start, retry, spool.
      lastError = (err as Error).message
      log.warn({ sink: name, target: describeInfluxConfig(config), err: lastError }, 'database unreachable at start; will retry')
    }
  }
  if (spool && spool.segments() > 0) {
    log.info({ sink: name, segments: spool.segments(), bytes: spool.bytes() }, 'replaying spool from a previous run')
    kick()
  }

  const sink: LineSink = {
    name,
    get backpressure() {
      return backpressure
    },
    onDrain(cb) {
      drainCallbacks.push(cb)
    },
    ...lineWriters(enqueue),
    writeLines: enqueue,
    state(): SinkState {
      const s: SinkState = { state: stopped ? 'off' : mode, spoolBytes: spool?.bytes() ?? 0, pending: pending() }
      if (lastError !== undefined) s.lastError = lastError
      return s
    },
    flush() {
      if (stopped || settled >= accepted) return Promise.resolve()
      const target = accepted
      const p = new Promise<void>((resolve) => flushWaiters.push({ target, resolve }))
      due = true
      kick()
      return p
    },
    async close() {
      if (stopped) return
      closing = true
      clearInterval(flushTimer)
      if (statsTimer) clearInterval(statsTimer)
      // With the database away and a spool at hand there is nothing to wait for: it all goes to disk.
      if (!(spool && mode !== 'writing')) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([sink.flush(), new Promise<void>((r) => (timer = setTimeout(r, o.closeTimeoutMs)))])
        clearTimeout(timer)
      }
      stopped = true
      wake?.()
      await pumping
      const inFlight = current && current.segId === null ? current : { blocks: [], lines: 0 }
      current = null
      const rest = take(memLines())
      const left = { blocks: [...inFlight.blocks, ...rest.blocks], lines: inFlight.lines + rest.lines }
      if (left.lines > 0) {
        if (spool) {
          await spool.append(left.blocks, left.lines)
          log.warn({ sink: name, lines: left.lines }, 'closed with unwritten lines: kept in the spool for the next start')
        } else {
          m.dropped.inc({ sink: name, reason: 'closed_without_spool' }, left.lines)
          log.error({ sink: name, lines: left.lines }, 'closed with unwritten lines and no spool: lost')
        }
        settle(left.lines)
      }
      for (const w of flushWaiters.splice(0)) w.resolve()
      await writer.close()
      setMode('off')
      updateGauges()
    },
  }
  return sink
}
