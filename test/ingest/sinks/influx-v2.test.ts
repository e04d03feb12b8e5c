/**
 * The v2 write path (the client library's WriteApi on /api/v2/write) against VictoriaMetrics, a
 * real server that speaks it. Field `f` of measurement `m` is stored as series `m_f`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import type { TelemetrySink } from '../../../ingest/sink.ts'
import type { InfluxConfig } from '../../../ingest/sinks/influx-config.ts'
import { createInfluxSink, type InfluxSinkOptions } from '../../../ingest/sinks/influx.ts'
import { describeService } from '../../services/availability.ts'
import { startInfluxDB } from '../../services/influxdb.ts'
import { startVictoriaMetrics, type VictoriaMetricsService } from '../../services/victoria-metrics.ts'
import { makeReadings, until } from './fixtures.ts'
import { outageMs } from './stream.ts'

describeService('victoria-metrics', 'InfluxDB sink, v2 API, against VictoriaMetrics', () => {
  let vm: VictoriaMetricsService
  const dirs: string[] = []
  const open: TelemetrySink[] = []
  let region = 0

  beforeAll(async () => {
    vm = await startVictoriaMetrics()
  })
  afterAll(async () => {
    await vm?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close()
  })

  const config = (): InfluxConfig => ({ api: 'v2', url: vm.url, token: 'ignored', org: 'forewarn', bucket: 'telemetry' })

  async function sink(o: Partial<InfluxSinkOptions> = {}): Promise<TelemetrySink> {
    const s = await createInfluxSink(config(), {
      spoolDir: null, statsIntervalMs: 0, batchSize: 500, flushIntervalMs: 100, minRetryDelayMs: 50, maxRetryDelayMs: 500, spoolAfterMs: 500, ...o,
    })
    open.push(s)
    return s
  }

  // VictoriaMetrics drops samples older than its retention (a month by default): write recent times.
  const t0 = Date.now() - 3_600_000

  /** Each test tags its readings with its own model so counts are its own. */
  function tagged(n: number, devices: number, offset: number, model: string): ReturnType<typeof makeReadings> {
    return makeReadings(n, devices, offset, t0).map((r) => ({ ...r, tags: { ...r.tags, model } }))
  }

  async function samples(model: string, expected: number): Promise<number> {
    let n = -1
    // Fresh writes become searchable within a couple of seconds: poll, bounded.
    for (let i = 0; i < 100 && n < expected; i++) {
      await vm.forceFlush()
      const series = await vm.exportSeries(`{__name__="telemetry_cabinet_temp_c",model="${model}"}`)
      n = series.reduce((s, x) => s + x.values.length, 0)
      if (n < expected) await new Promise((r) => setTimeout(r, 100))
    }
    return n
  }

  it('refuses to start when the server has no /api/v2/write (FOREWARN_ERR_CONFIG)', async () => {
    const influx16 = await startInfluxDB()
    try {
      await expect(createInfluxSink({ api: 'v2', url: influx16.url, token: 't', org: 'o', bucket: 'b' }, { spoolDir: null })).rejects.toMatchObject({
        code: 'FOREWARN_ERR_CONFIG', message: expect.stringMatching(/bucket "b" refused/),
      })
    } finally {
      await influx16.stop()
    }
  })

  it('writes N readings as exactly N samples, and a replay adds none', async () => {
    const model = `m${++region}`
    const s = await sink()
    s.writeReadings(tagged(4000, 20, 0, model))
    await s.flush()
    expect(await samples(model, 4000)).toBe(4000)
    s.writeReadings(tagged(4000, 20, 0, model))
    await s.flush()
    // Searchable after a forced flush; poll past the point where duplicates would have shown.
    await new Promise((r) => setTimeout(r, 1_000))
    expect(await samples(model, 4000)).toBe(4000)
  })

  it(`loses nothing when the server is down for ${outageMs} ms mid-stream`, { timeout: outageMs + 60_000 }, async () => {
    const model = `m${++region}`
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-v2spool-'))
    dirs.push(dir)
    const s = await sink({ spoolDir: dir })
    const feed = async (from: number, spanMs: number): Promise<void> => {
      for (let i = 0; i < 10; i++) {
        if (s.backpressure) await new Promise<void>((r) => s.onDrain(r))
        s.writeReadings(tagged(200, 20, from + i * 200, model))
        await new Promise((r) => setTimeout(r, spanMs / 10))
      }
    }
    await feed(0, 200)
    await s.flush()
    await vm.halt()
    await feed(2000, outageMs)
    expect(s.state().state).toBe('spooling')
    await vm.resume()
    await feed(4000, 200)
    await s.flush()
    await until('spool drained', () => s.state().pending === 0, 30_000)
    expect(await samples(model, 6000)).toBe(6000)
  })

  it('pauses its source under backpressure and still writes every reading', async () => {
    const model = `m${++region}`
    const s = await sink({ maxBufferLines: 1000 })
    let paused = 0
    for (let i = 0; i < 10; i++) {
      if (s.backpressure) {
        paused++
        await new Promise<void>((r) => s.onDrain(r))
      }
      s.writeReadings(tagged(600, 10, i * 600, model))
    }
    await s.flush()
    expect(paused).toBeGreaterThan(0)
    expect(await samples(model, 6000)).toBe(6000)
  })
})
