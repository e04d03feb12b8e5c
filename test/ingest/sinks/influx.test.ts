/**
 * The sink's batching, retry, spool and backpressure logic against an in-process fake database
 * that, like InfluxDB, keeps one point per series and timestamp.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import type { TelemetrySink } from '../../../ingest/sink.ts'
import { createInfluxSink, type InfluxSinkOptions } from '../../../ingest/sinks/influx.ts'
import { WriteFailure, type InfluxWriter } from '../../../ingest/sinks/influx-writers.ts'
import { makeReadings, until } from './fixtures.ts'

class FakeDb implements InfluxWriter {
  points = new Map<string, string>()
  arrivals: string[] = []
  requests = 0
  inFlight = 0
  maxInFlight = 0
  batchSizes: number[] = []
  fail: WriteFailure | null = null
  /** Store the batch, then fail anyway: the reply was lost. */
  loseReply = false
  async write(blocks: readonly Buffer[]): Promise<void> {
    const lines = blocks.flatMap((b) => b.toString('utf8').split('\n'))
    this.requests++
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      await new Promise((r) => setTimeout(r, 2))
      if (this.fail) throw this.fail
      this.batchSizes.push(lines.length)
      for (const l of lines) {
        const key = l.slice(0, l.indexOf(' ')) + l.slice(l.lastIndexOf(' '))
        if (!this.points.has(key)) this.arrivals.push(key)
        this.points.set(key, l)
      }
      if (this.loseReply) throw new WriteFailure('retry', null, 'network: ECONNRESET')
    } finally {
      this.inFlight--
    }
  }
  async validate(): Promise<void> {}
  async close(): Promise<void> {}
  telemetry(): number {
    return [...this.points.keys()].filter((k) => k.startsWith('telemetry,')).length
  }
}

const down = (): WriteFailure => new WriteFailure('retry', null, 'network: ECONNREFUSED')
const cfg = { api: 'v1' as const, url: 'http://127.0.0.1:1', database: 'x', username: null, password: null }
const dirs: string[] = []
const sinks: TelemetrySink[] = []

function spoolDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'forewarn-spool-'))
  dirs.push(d)
  return d
}

async function open(db: FakeDb, o: Partial<InfluxSinkOptions> = {}): Promise<TelemetrySink> {
  const s = await createInfluxSink(cfg, { spoolDir: null, writer: db, statsIntervalMs: 0, flushIntervalMs: 50, minRetryDelayMs: 20, maxRetryDelayMs: 100, ...o })
  sinks.push(s)
  return s
}

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('InfluxDB sink logic', () => {
  it('writes every reading once, in batches of at most batchSize, one request in flight', async () => {
    const db = new FakeDb()
    const sink = await open(db, { batchSize: 100 })
    for (let i = 0; i < 10; i++) sink.writeReadings(makeReadings(95, 7, i * 95))
    await sink.flush()
    expect(db.telemetry()).toBe(950)
    expect(Math.max(...db.batchSizes)).toBe(100)
    expect(db.maxInFlight).toBe(1)
    expect(sink.state()).toEqual({ state: 'writing', spoolBytes: 0, pending: 0 })
  })

  it('flushes a partial batch after flushIntervalMs without being asked', async () => {
    const db = new FakeDb()
    const sink = await open(db, { batchSize: 1000, flushIntervalMs: 30 })
    sink.writeReadings(makeReadings(3))
    await until('timed flush', () => db.telemetry() === 3, 2_000)
  })

  it('retries with backoff while the database is down and loses nothing when it is back (no spool)', async () => {
    const db = new FakeDb()
    db.fail = down()
    const sink = await open(db, { batchSize: 50 })
    sink.writeReadings(makeReadings(200))
    await until('retrying', () => sink.state().state === 'retrying')
    expect(sink.state().lastError).toBe('network: ECONNREFUSED')
    db.fail = null
    await sink.flush()
    expect(db.telemetry()).toBe(200)
    expect(sink.state().state).toBe('writing')
  })

  it('waits as long as Retry-After says on 429', async () => {
    const db = new FakeDb()
    db.fail = new WriteFailure('retry', 429, 'HTTP 429', 400)
    const sink = await open(db)
    sink.writeReadings(makeReadings(5))
    const t0 = Date.now()
    const flushed = sink.flush()
    await until('first attempt', () => db.requests === 1)
    db.fail = null
    await flushed
    expect(db.requests).toBe(2)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390)
  })

  it('spools to disk during an outage and replays in order afterwards, each point once', async () => {
    const db = new FakeDb()
    const registry = new Registry()
    const sink = await open(db, { spoolDir: spoolDir(), batchSize: 40, spoolAfterMs: 60, registry })
    sink.writeReadings(makeReadings(100, 5, 0))
    await sink.flush()
    db.fail = down()
    sink.writeReadings(makeReadings(300, 5, 100))
    await until('spooling', () => sink.state().state === 'spooling' && sink.state().spoolBytes > 0)
    sink.writeReadings(makeReadings(100, 5, 400))
    await sink.flush() // everything is written or on disk
    const during = sink.state()
    expect(during.state).toBe('spooling')
    expect(during.pending).toBe(400)
    expect(await registry.getSingleMetricAsString('forewarn_sink_spool_bytes')).toContain(`forewarn_sink_spool_bytes{sink="influxdb"} ${during.spoolBytes}`)
    db.fail = null
    await until('spool replayed', () => sink.state().spoolBytes === 0 && sink.state().pending === 0, 5_000)
    expect(db.telemetry()).toBe(500)
    expect(sink.state().state).toBe('writing')
    // In order per device: sequence numbers arrive increasing.
    const last = new Map<string, number>()
    for (const key of db.arrivals) {
      const dev = /device_id=([^,]+)/.exec(key)?.[1] as string
      const ts = Number(key.slice(key.lastIndexOf(' ') + 1))
      expect(ts).toBeGreaterThan(last.get(dev) ?? -1)
      last.set(dev, ts)
    }
  })

  it('does not count a batch twice when the reply was lost and it is sent again', async () => {
    const db = new FakeDb()
    db.loseReply = true
    const sink = await open(db, { batchSize: 10 })
    sink.writeReadings(makeReadings(10))
    const flushed = sink.flush()
    await until('two attempts', () => db.requests >= 2)
    db.loseReply = false
    await flushed
    expect(db.telemetry()).toBe(10)
  })

  it('keeps the spool across close and reopen', async () => {
    const dir = spoolDir()
    const db = new FakeDb()
    db.fail = down()
    const first = await open(db, { spoolDir: dir, batchSize: 25, spoolAfterMs: 30 })
    first.writeReadings(makeReadings(120))
    await until('retrying', () => first.state().state !== 'writing')
    await first.close()
    expect(first.state().state).toBe('off')
    expect(readdirSync(dir).filter((f) => f.endsWith('.lp')).length).toBeGreaterThan(0)
    expect(db.telemetry()).toBe(0)
    db.fail = null
    const second = await open(db, { spoolDir: dir })
    expect(second.state().pending).toBe(120)
    await until('replayed after restart', () => second.state().pending === 0)
    expect(db.telemetry()).toBe(120)
    expect(readdirSync(dir)).toEqual([])
  })

  it('counts and skips a batch the database refuses, and keeps writing the rest', async () => {
    const db = new FakeDb()
    const registry = new Registry()
    db.fail = new WriteFailure('refused', 400, 'HTTP 400: field type conflict')
    const sink = await open(db, { batchSize: 10, registry })
    sink.writeReadings(makeReadings(10))
    await sink.flush()
    db.fail = null
    sink.writeReadings(makeReadings(10, 10, 10))
    await sink.flush()
    expect(db.telemetry()).toBe(10)
    expect(await registry.getSingleMetricAsString('forewarn_sink_points_dropped_total')).toContain('forewarn_sink_points_dropped_total{sink="influxdb",reason="refused"} 10')
    expect(sink.state().lastError).toBe('HTTP 400: field type conflict')
  })

  it('raises backpressure when memory fills and calls onDrain once it empties', async () => {
    const db = new FakeDb()
    db.fail = down()
    const sink = await open(db, { batchSize: 20, maxBufferLines: 100 })
    let drained = 0
    sink.onDrain(() => drained++)
    sink.writeReadings(makeReadings(90))
    expect(sink.backpressure).toBe(false)
    sink.writeReadings(makeReadings(30, 10, 90))
    expect(sink.backpressure).toBe(true)
    db.fail = null
    await sink.flush()
    expect(sink.backpressure).toBe(false)
    expect(drained).toBe(1)
    expect(db.telemetry()).toBe(120)
  })

  it('stops at the spool bound, then at the memory limit drops the oldest lines and counts them', async () => {
    const db = new FakeDb()
    const registry = new Registry()
    db.fail = down()
    const sink = await open(db, { spoolDir: spoolDir(), batchSize: 10, spoolAfterMs: 0, maxSpoolBytes: 1, maxBufferLines: 20, maxMemoryLines: 40, registry })
    sink.writeReadings(makeReadings(10))
    await until('one batch spooled, spool full', () => sink.state().spoolBytes > 0)
    sink.writeReadings(makeReadings(100, 10, 10))
    expect(sink.backpressure).toBe(true)
    expect(sink.state()).toMatchObject({ state: 'spooling', pending: 50, lastError: expect.stringMatching(/memory limit of 40 lines/) })
    expect(await registry.getSingleMetricAsString('forewarn_sink_points_dropped_total')).toContain('reason="memory_limit"} 60')
    db.fail = null
    await until('all written', () => sink.state().pending === 0, 5_000)
    expect(db.telemetry()).toBe(50)
  })
})
