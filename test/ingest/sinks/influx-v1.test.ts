/** The v1 write path against a real InfluxDB 1.6 on loopback: exactly N points, through outages and restarts. */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { TelemetrySink } from '../../../ingest/sink.ts'
import type { InfluxConfig } from '../../../ingest/sinks/influx-config.ts'
import { createInfluxSink } from '../../../ingest/sinks/influx.ts'
import { createInfluxThreadSink, type ThreadSinkOptions } from '../../../ingest/sinks/influx-thread.ts'
import { describeService } from '../../services/availability.ts'
import { startInfluxDB, type InfluxDBService } from '../../services/influxdb.ts'
import { makeReadings, until } from './fixtures.ts'
import { outageMs, stream } from './stream.ts'

const auth = { username: 'forewarn', password: 's3cret' }
type Factory = (config: InfluxConfig, o: ThreadSinkOptions) => Promise<TelemetrySink>
const factories: [string, Factory][] = [['in the event loop', createInfluxSink], ['in a worker thread', createInfluxThreadSink]]

describeService('influxdb', 'InfluxDB sink, v1 API, against InfluxDB 1.6', () => {
  let db: InfluxDBService
  const dirs: string[] = []
  const open: TelemetrySink[] = []
  let measurementDb = 0

  beforeAll(async () => {
    db = await startInfluxDB({ database: 'forewarn', auth })
  })
  afterAll(async () => {
    await db?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close()
  })

  /** Each test writes into its own fresh database so counts are its own. */
  async function freshDatabase(): Promise<Extract<InfluxConfig, { api: 'v1' }>> {
    const name = `t${++measurementDb}`
    await db.query(`CREATE DATABASE "${name}"`)
    return { api: 'v1' as const, url: db.url, database: name, ...auth }
  }

  async function openSink(create: Factory, config: InfluxConfig, o: Partial<ThreadSinkOptions>): Promise<TelemetrySink> {
    const s = await create(config, {
      spoolDir: null, statsIntervalMs: 0, batchSize: 500, flushIntervalMs: 100, minRetryDelayMs: 50, maxRetryDelayMs: 500, spoolAfterMs: 500, ...o,
    })
    open.push(s)
    return s
  }

  async function count(database: string, where = ''): Promise<number> {
    const rows = await db.query(`SELECT count(cabinet_temp_c) FROM "${database}".."telemetry" ${where}`)
    return Number(rows[0]?.count ?? 0)
  }

  function spoolDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'forewarn-v1spool-'))
    dirs.push(d)
    return d
  }

  // The same behaviour whether the sink runs in the event loop or in its worker thread (production).
  describe.each(factories)('sink %s', (_where, create) => {
    const sink = (config: InfluxConfig, o: Partial<ThreadSinkOptions> = {}): Promise<TelemetrySink> => openSink(create, config, o)

    it('refuses to start on a missing database or a wrong password, with FOREWARN_ERR_CONFIG', async () => {
      await expect(sink({ api: 'v1', url: db.url, database: 'nope', ...auth })).rejects.toMatchObject({
        code: 'FOREWARN_ERR_CONFIG', message: expect.stringMatching(/database "nope" does not exist/),
      })
      await expect(sink({ api: 'v1', url: db.url, database: 'forewarn', username: 'forewarn', password: 'wrong' })).rejects.toMatchObject({
        code: 'FOREWARN_ERR_CONFIG', message: expect.stringMatching(/password refused/),
      })
    })

    it('writes N readings as exactly N points, with the documented tags', async () => {
      const cfg = await freshDatabase()
      const s = await sink(cfg)
      await stream(s, { from: 0, count: 5000, devices: 25, chunk: 250, spanMs: 0 })
      await s.flush()
      expect(await count(cfg.database)).toBe(5000)
      expect(await count(cfg.database, `WHERE device_id = 'dev-3' AND region = 'north' AND type = 'refrigerator' AND model = 'RF-100'`)).toBe(200)
    })

    it('does not double count when the same readings are replayed', async () => {
      const cfg = await freshDatabase()
      const s = await sink(cfg)
      s.writeReadings(makeReadings(1000, 10))
      await s.flush()
      s.writeReadings(makeReadings(1000, 10))
      await s.flush()
      expect(await count(cfg.database)).toBe(1000)
    })

    it(`loses nothing and doubles nothing when InfluxDB is down for ${outageMs} ms mid-stream`, { timeout: outageMs + 60_000 }, async () => {
      const cfg = await freshDatabase()
      const s = await sink(cfg, { spoolDir: spoolDir() })
      const total = 6000
      await stream(s, { from: 0, count: 2000, devices: 20, chunk: 100, spanMs: 300 })
      await s.flush()
      const t0 = Date.now()
      await db.halt()
      await stream(s, { from: 2000, count: 2000, devices: 20, chunk: 100, spanMs: outageMs })
      const during = s.state()
      await db.resume()
      const downMs = Date.now() - t0
      await stream(s, { from: 4000, count: 2000, devices: 20, chunk: 100, spanMs: 300 })
      await s.flush()
      await until('spool drained', () => s.state().pending === 0, 30_000)
      const drainedMs = Date.now() - t0 - downMs
      expect(during.state).toBe('spooling')
      expect(during.spoolBytes).toBeGreaterThan(0)
      expect(await count(cfg.database)).toBe(total)
      for (const dev of ['dev-0', 'dev-19']) expect(await count(cfg.database, `WHERE device_id = '${dev}'`)).toBe(total / 20)
      console.info(`[influx-v1 outage] down ${downMs} ms, spool peak ${during.spoolBytes} B, drained ${drainedMs} ms after restart, ${total} of ${total} points`)
    })

    it('keeps spooled batches across a sink restart and writes them when the database is back', async () => {
      const cfg = await freshDatabase()
      const dir = spoolDir()
      await db.halt()
      const first = await sink(cfg, { spoolDir: dir })
      expect(first.state().lastError).toMatch(/network/)
      first.writeReadings(makeReadings(1500, 15))
      await until('spooling', () => first.state().state !== 'writing')
      await first.close()
      expect(first.state()).toMatchObject({ state: 'off', pending: 1500 })
      await db.resume()
      const second = await sink(cfg, { spoolDir: dir })
      await until('replayed', () => second.state().pending === 0, 20_000)
      expect(await count(cfg.database)).toBe(1500)
    })

    it('replays what a SIGKILLed process had flushed to its spool', async () => {
      const cfg = await freshDatabase()
      const dir = spoolDir()
      await db.halt()
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./crash-child.ts', import.meta.url)),
        JSON.stringify({ ...cfg, spoolDir: dir, count: 2500 })], { stdio: ['ignore', 'pipe', 'inherit'] })
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      await until('child flushed to its spool', () => out.includes('FLUSHED'), 30_000)
      expect(JSON.parse(out.slice(out.indexOf('{')))).toMatchObject({ state: 'spooling', pending: 2500 })
      child.kill('SIGKILL')
      expect(await exited).toBe('SIGKILL')
      await db.resume()
      const again = await sink(cfg, { spoolDir: dir })
      await until('replayed', () => again.state().pending === 0, 20_000)
      expect(await count(cfg.database)).toBe(2500)
    })

    it('writes health, warnings, ticket events and pipeline points that InfluxQL reads back', async () => {
      const cfg = await freshDatabase()
      const s = await sink(cfg)
      const tags = { type: 'refrigerator', model: 'RF-100', region: 'north' }
      const core = { overall: 64, status: 'warning' as const, components: { compressor: { score: 40, reason: 'r' }, door_seal: { score: 95, reason: 'ok' } },
        usage: { runningHours: 1, cycles: 2, doorOpenings: 3 }, lastEventTime: 1, warmingUp: false }
      s.writeHealth('dev-1', tags, core, 1_000)
      s.writeWarning({ kind: 'warning.raised', deviceId: 'dev-1', episodeId: 'dev-1:RF-E2:1', faultCode: 'RF-E2', component: 'compressor', severity: 'warning',
        eventTime: 900, message: 'current rising', evidence: [], rul: { medianHours: 48, lowHours: 20, highHours: 90 }, source: 'detector' }, tags, 1_000)
      s.writeTicketEvent({ ticketId: 'T-1', deviceId: 'dev-1', type: 'refrigerator', faultCode: 'RF-E2', priority: 'P2', event: 'opened', state: 'open', slaState: 'on_time', atMs: 2_000 })
      s.writePipeline('ingest', { accepted: 10, rejected: 1, lag_ms: 12.5 }, 3_000)
      await s.flush()
      const q = (x: string): Promise<unknown[]> => db.query(x.replace('FROM ', `FROM "${cfg.database}"..`))
      expect(await q(`SELECT score, status FROM health WHERE component = 'overall'`)).toEqual([{ name: 'health', time: 1000, score: 64, status: 'warning' }])
      expect(await q(`SELECT count(score) FROM health WHERE device_id = 'dev-1'`)).toEqual([{ name: 'health', time: 0, count: 3 }])
      expect(await q(`SELECT message, episode_id, rul_hours_median FROM warnings WHERE fault_code = 'RF-E2' AND event = 'raised'`)).toEqual([
        { name: 'warnings', time: 1000, message: 'current rising', episode_id: 'dev-1:RF-E2:1', rul_hours_median: 48 },
      ])
      expect(await q(`SELECT ticket_id, state, sla_state FROM tickets WHERE priority = 'P2'`)).toEqual([
        { name: 'tickets', time: 2000, ticket_id: 'T-1', state: 'open', sla_state: 'on_time' },
      ])
      expect(await q(`SELECT accepted, rejected, lag_ms FROM pipeline WHERE stage = 'ingest'`)).toEqual([
        { name: 'pipeline', time: 3000, accepted: 10, rejected: 1, lag_ms: 12.5 },
      ])
    })
  })
})
