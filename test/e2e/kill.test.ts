/**
 * Issues 4 and 5: Forewarn is killed with SIGKILL while devices publish at QoS 1, then restarted
 * on the same data directory and ports. Devices resend what was not acknowledged (MQTT.js keeps
 * its in-flight messages across reconnects). Afterwards every acknowledged reading is in InfluxDB
 * exactly once, per device: each device published READINGS readings with distinct event times,
 * the broker acknowledged sequence numbers 0 … READINGS-1, and InfluxDB holds exactly READINGS
 * points per device (a point is keyed by series and timestamp, so a lost one lowers the count
 * and none can be counted twice).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runFleet } from '../../simulators/fleet.ts'
import { describeService } from '../services/availability.ts'
import { startInfluxDB, type InfluxDBService } from '../services/influxdb.ts'
import { freePort } from '../services/process.ts'
import { expectExactlyPerDevice, provision, spawnForewarn, waitFor } from './helpers.ts'

const ADMIN_KEY = 'e2e-kill-admin-key-0123456789abc'
const READINGS = 600

describeService('influxdb', 'a SIGKILL under load loses no acknowledged reading and duplicates none', () => {
  let influx: InfluxDBService
  let child: ChildProcess | null = null
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-kill-'))
  beforeAll(async () => {
    influx = await startInfluxDB({ database: 'forewarn' })
  })
  afterAll(async () => {
    child?.kill('SIGKILL')
    await influx?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const startChild = (mqttPort: number, apiPort: number): Promise<ChildProcess> =>
    spawnForewarn(['--mqtt-port', String(mqttPort), '--data-dir', dataDir], {
      FOREWARN_ADMIN_KEY: ADMIN_KEY, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: influx.database, FOREWARN_CHECKPOINT_MS: '300',
    }, apiPort)

  it('keeps every acknowledged reading exactly once across a kill and restart', async () => {
    const mqttPort = await freePort()
    const apiPort = await freePort()
    const apiUrl = `http://127.0.0.1:${apiPort}`
    child = await startChild(mqttPort, apiPort)
    const members = await provision(apiUrl, ADMIN_KEY, ['refrigerator', 'refrigerator', 'refrigerator', 'refrigerator'], 'KILL')
    const fleet = runFleet({
      brokerUrl: `mqtt://127.0.0.1:${mqttPort}`, members, startMs: Date.now() - 30 * 86_400_000,
      readingsPerDevice: READINGS, intervalMs: 8, batchSize: 1, drainTimeoutMs: 60_000,
    })
    await waitFor('a third of the readings acknowledged', async () => (fleet.stats().acknowledged > (members.length * READINGS) / 3 ? true : undefined), 60_000, 50)
    child.kill('SIGKILL')
    await new Promise((r) => child?.once('exit', r))
    child = await startChild(mqttPort, apiPort)

    const summary = await fleet.done
    const n = members.length * READINGS
    expect(summary.failed).toBe(0)
    expect(summary.acknowledged).toBe(n)
    for (const m of members) expect(summary.lastSeq[m.deviceId]).toBe(READINGS - 1)

    await expectExactlyPerDevice(influx, members.map((m) => m.deviceId), READINGS)
  }, 240_000)
})
