/**
 * Issue 4 with an external broker: Forewarn (`start --broker`, a child process) is killed with
 * SIGKILL while devices publish through Mosquitto, then restarted. The pipeline's session is
 * persistent and acknowledges a message only after ingest committed it, so Mosquitto keeps
 * (and redelivers) everything not yet committed. Afterwards InfluxDB holds every reading the
 * devices published exactly once per device (a point is keyed by series and timestamp: a lost one
 * lowers the count, none can count twice).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runFleet } from '../../simulators/fleet.ts'
import { describeService } from '../services/availability.ts'
import { startInfluxDB, type InfluxDBService } from '../services/influxdb.ts'
import { startMosquitto, type MosquittoService } from '../services/mosquitto.ts'
import { freePort } from '../services/process.ts'
import { expectExactlyPerDevice, provision, spawnForewarn, waitFor } from './helpers.ts'

const ADMIN_KEY = 'e2e-extkill-admin-key-0123456789'
const DYNSEC = { adminUsername: 'dynsec-admin', adminPassword: 'dynsec-admin-secret-0123456789' }
const READINGS = 600

describeService(['mosquitto', 'influxdb'], 'with an external broker, a SIGKILL under load loses no reading and duplicates none', () => {
  let influx: InfluxDBService
  let mosquitto: MosquittoService
  let child: ChildProcess | null = null
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-extkill-'))
  beforeAll(async () => {
    ;[influx, mosquitto] = await Promise.all([
      startInfluxDB({ database: 'forewarn' }),
      startMosquitto({ dynsec: DYNSEC, extraConfig: ['max_queued_messages 100000', 'max_inflight_messages 1000'] }),
    ])
  })
  afterAll(async () => {
    child?.kill('SIGKILL')
    await influx?.stop()
    await mosquitto?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const startChild = (apiPort: number): Promise<ChildProcess> =>
    spawnForewarn(['--broker', mosquitto.url, '--data-dir', dataDir], {
      FOREWARN_ADMIN_KEY: ADMIN_KEY, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: influx.database, FOREWARN_CHECKPOINT_MS: '300',
      FOREWARN_BROKER_USERNAME: 'forewarn-svc', FOREWARN_BROKER_PASSWORD: 'forewarn-svc-secret-0123456789',
      FOREWARN_DYNSEC_USERNAME: DYNSEC.adminUsername, FOREWARN_DYNSEC_PASSWORD: DYNSEC.adminPassword,
    }, apiPort)

  it('keeps every reading exactly once across a kill and restart', async () => {
    const apiPort = await freePort()
    const apiUrl = `http://127.0.0.1:${apiPort}`
    child = await startChild(apiPort)
    const members = await provision(apiUrl, ADMIN_KEY, ['refrigerator', 'refrigerator', 'refrigerator', 'refrigerator'], 'EXTKILL')
    const fleet = runFleet({
      brokerUrl: mosquitto.url, members, startMs: Date.now() - 30 * 86_400_000,
      readingsPerDevice: READINGS, intervalMs: 8, batchSize: 1, drainTimeoutMs: 60_000,
    })
    await waitFor('a third of the readings acknowledged', async () => (fleet.stats().acknowledged > (members.length * READINGS) / 3 ? true : undefined), 60_000, 50)
    child.kill('SIGKILL')
    await new Promise((r) => child?.once('exit', r))
    child = await startChild(apiPort)

    const summary = await fleet.done
    expect(summary.failed).toBe(0)
    expect(summary.acknowledged).toBe(members.length * READINGS)
    for (const m of members) expect(summary.lastSeq[m.deviceId]).toBe(READINGS - 1)

    await expectExactlyPerDevice(influx, members.map((m) => m.deviceId), READINGS)
  }, 240_000)
})
