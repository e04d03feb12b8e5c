/**
 * Issue 5 end to end: simulated devices publish N readings over MQTT into Forewarn, and exactly N
 * points arrive in a real InfluxDB 1.6 — also when InfluxDB is down in the middle.
 * FOREWARN_OUTAGE_MS sets the outage (default 30 s, the figure).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { runFleet } from '../../simulators/fleet.ts'
import { describeService } from '../services/availability.ts'
import { startInfluxDB, type InfluxDBService } from '../services/influxdb.ts'
import { provision, waitFor } from './helpers.ts'

const ADMIN_KEY = 'e2e-influx-admin-key-0123456789'
const OUTAGE_MS = Number(process.env.FOREWARN_OUTAGE_MS ?? 30_000)
const READINGS = 400

describeService('influxdb', 'telemetry into a real InfluxDB 1.6 through the whole pipeline', () => {
  let influx: InfluxDBService
  const dirs: string[] = []
  const runs: Running[] = []
  beforeAll(async () => {
    influx = await startInfluxDB({ database: 'forewarn' })
  })
  afterAll(async () => {
    for (const r of runs) await r.stop()
    await influx?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  async function start(): Promise<Running> {
    const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-influx-e2e-'))
    dirs.push(dataDir)
    const env = { FOREWARN_ADMIN_KEY: ADMIN_KEY, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: influx.database }
    const run = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0 }, env), pino({ level: 'silent' }), env)
    runs.push(run)
    return run
  }

  async function pointsOf(deviceIds: string[]): Promise<number> {
    const rows = await influx.query(`SELECT count(cabinet_temp_c) AS n FROM telemetry WHERE device_id =~ /^(${deviceIds.join('|')})$/`)
    return Number(rows[0]?.n ?? 0)
  }

  it('stores exactly N readings, none twice', async () => {
    const run = await start()
    const members = await provision(run.apiUrl, ADMIN_KEY, ['refrigerator', 'refrigerator', 'refrigerator'], 'INFLUX-A')
    const fleet = runFleet({ brokerUrl: run.mqttUrl, members, startMs: Date.now() - 30 * 86_400_000, readingsPerDevice: READINGS, intervalMs: 2, batchSize: 1 })
    const summary = await fleet.done
    const n = members.length * READINGS
    expect(summary.acknowledged).toBe(n)
    const ids = members.map((m) => m.deviceId)
    await waitFor(`${n} points`, async () => ((await pointsOf(ids)) >= n ? true : undefined), 30_000)
    await new Promise((r) => setTimeout(r, 1000))
    expect(await pointsOf(ids)).toBe(n)
  }, 120_000)

  it(`loses nothing when InfluxDB is down for ${OUTAGE_MS} ms in the middle`, async () => {
    const run = await start()
    const members = await provision(run.apiUrl, ADMIN_KEY, ['refrigerator', 'refrigerator', 'refrigerator'], 'INFLUX-B')
    const fleet = runFleet({ brokerUrl: run.mqttUrl, members, startMs: Date.now() - 30 * 86_400_000, readingsPerDevice: READINGS, intervalMs: 50, batchSize: 1 })
    const ids = members.map((m) => m.deviceId)
    await waitFor('the first points', async () => ((await pointsOf(ids)) > 0 ? true : undefined), 30_000)
    await influx.halt()
    await new Promise((r) => setTimeout(r, OUTAGE_MS))
    await influx.resume()
    const summary = await fleet.done
    const n = members.length * READINGS
    expect(summary.acknowledged).toBe(n)
    await waitFor(`${n} points after the outage`, async () => ((await pointsOf(ids)) >= n ? true : undefined), 60_000, 500)
    await new Promise((r) => setTimeout(r, 1000))
    expect(await pointsOf(ids)).toBe(n)
  }, 180_000)
})
