/**
 * What only the worker-thread sink can get wrong: handing lines over, the state, backpressure,
 * metrics and logs that come back from the worker, and a worker that dies. (Its writing,
 * retrying and spooling against a real InfluxDB run in influx-v1.test.ts, once per thread mode.)
 */
import type { Worker } from 'node:worker_threads'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { TelemetrySink } from '../../../ingest/sink.ts'
import { createInfluxThreadSink, type InfluxThreadSinkOptions } from '../../../ingest/sinks/influx-thread.ts'
import { fakeInfluxHttp, makeReadings, until, type FakeInfluxHttp } from './fixtures.ts'

let db: FakeInfluxHttp
const sinks: TelemetrySink[] = []

beforeEach(async () => {
  db = await fakeInfluxHttp()
})
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close()
  await db.close()
})

async function open(o: Partial<InfluxThreadSinkOptions> = {}): Promise<TelemetrySink> {
  const s = await createInfluxThreadSink({ api: 'v1', url: db.url, database: 'forewarn', username: null, password: null }, {
    spoolDir: null, validate: false, statsIntervalMs: 0, flushIntervalMs: 50, minRetryDelayMs: 20, maxRetryDelayMs: 100, ...o,
  })
  sinks.push(s)
  return s
}

describe('InfluxDB sink in a worker thread', () => {
  it('writes every line handed over, in order, and reports nothing pending after flush', async () => {
    const s = await open({ batchSize: 700 })
    for (let i = 0; i < 10; i++) s.writeReadings(makeReadings(500, 10, i * 500))
    await s.flush()
    expect(s.state()).toEqual({ state: 'writing', spoolBytes: 0, pending: 0 })
    expect(db.lines).toHaveLength(5000)
    // Device dev-3's readings arrive in the order they were written.
    const seqs = db.lines.filter((l) => l.includes('device_id=dev-3,')).map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)))
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    expect(new Set(db.lines).size).toBe(5000)
  })

  it("records the worker's metrics in the caller's registry and its logs in the caller's logger", async () => {
    const registry = new Registry()
    const logs: string[] = []
    const log = { info: (_o: object, m: string) => logs.push(`info ${m}`), warn: (_o: object, m: string) => logs.push(`warn ${m}`), error: (_o: object, m: string) => logs.push(`error ${m}`) }
    db.status = 503
    const s = await open({ registry, log })
    s.writeReadings(makeReadings(300))
    await until('a failed write logged', () => logs.includes('warn write failed, will retry'))
    expect(s.state()).toMatchObject({ state: 'retrying', pending: 300, lastError: expect.stringMatching(/HTTP 503/) })
    db.status = null
    await s.flush()
    const value = async (name: string, labels: Record<string, string>) => (await registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value
    expect(await value('forewarn_sink_points_written_total', { sink: 'influxdb' })).toBe(300)
    expect(await value('forewarn_sink_write_batches_total', { sink: 'influxdb', result: 'ok' })).toBe(1)
    expect(await value('forewarn_sink_write_retries_total', { sink: 'influxdb' })).toBeGreaterThan(0)
    expect(logs).toContain('info sink state changed')
  })

  it('pushes back while the worker holds too much, and calls onDrain once it has written it', async () => {
    db.status = 503
    const s = await open({ maxBufferLines: 200, batchSize: 100 })
    s.writeReadings(makeReadings(500))
    await until('backpressure', () => s.backpressure)
    let drained = 0
    s.onDrain(() => drained++)
    db.status = null
    await until('drained', () => drained === 1, 10_000)
    expect(s.backpressure).toBe(false)
    await s.flush()
    expect(db.lines).toHaveLength(500)
  })

  it('a dead worker turns the sink off with the reason; flush rejects, so no checkpoint passes what it lost', async () => {
    let worker: Worker | null = null
    const s = await open({ onWorker: (w) => (worker = w) })
    s.writeReadings(makeReadings(100))
    await s.flush()
    await (worker as Worker | null)?.terminate()
    await until('the sink off', () => s.state().state === 'off')
    expect(s.state().lastError).toMatch(/^sink worker died: exited with code 1$/)
    await expect(s.flush()).rejects.toMatchObject({ code: 'FOREWARN_ERR_SINK' })
    expect(() => s.writeReadings(makeReadings(10))).not.toThrow()
    expect(s.backpressure).toBe(false)
    await s.close()
    expect(db.lines).toHaveLength(100)
  })

  it('refuses to start on a configuration the database rejects, with FOREWARN_ERR_CONFIG from the worker', async () => {
    db.status = 401
    await expect(open({ validate: true })).rejects.toMatchObject({ code: 'FOREWARN_ERR_CONFIG', message: expect.stringMatching(/username or password refused/) })
  })
})
