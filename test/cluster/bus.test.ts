/**
 * Issue 17, across edges: a warning raised by a worker in one process reaches MQTT subscribers on
 * every edge, so a client connected to another edge gets it too. The device is connected to edge
 * B, which runs no worker; the worker in process A raises the warning from B's device event.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { describeService } from '../services/availability.ts'
import { startNatsCluster, type NatsClusterService } from '../services/nats.ts'
import { startPostgres, type PostgresService } from '../services/postgres.ts'
import { offlineWill, provision, waitFor } from '../e2e/helpers.ts'

const ADMIN_KEY = 'cluster-bus-admin-key-0123456789ab'

/** Warnings published on an edge's own broker, as an in-process subscriber sees them. */
function listen(run: Running): { deviceId: string; kind: string }[] {
  const got: { deviceId: string; kind: string }[] = []
  run.broker!.aedes.subscribe('forewarn/warnings/+', (packet, cb) => {
    const ev = JSON.parse(packet.payload.toString()) as { deviceId: string; kind: string }
    got.push({ deviceId: ev.deviceId, kind: ev.kind })
    cb()
  }, () => undefined)
  return got
}

describeService(['nats', 'postgres'], 'cluster bus: warnings reach every edge', () => {
  let nats: NatsClusterService
  let postgres: PostgresService
  const runs: Running[] = []
  const dirs: string[] = []
  let databaseUrl = ''
  beforeAll(async () => {
    nats = await startNatsCluster(3)
    postgres = await startPostgres()
    databaseUrl = await postgres.createDatabase('bus')
  }, 60_000)
  afterAll(async () => {
    for (const r of runs) await r.stop()
    await nats?.stop()
    await postgres?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  const start = async (roles: string): Promise<Running> => {
    const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-cluster-bus-'))
    dirs.push(dataDir)
    const run = await startForewarn(
      loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0, cluster: nats.urls, roles }, { FOREWARN_ADMIN_KEY: ADMIN_KEY }),
      pino({ level: 'silent' }), { DATABASE_URL: databaseUrl },
    )
    runs.push(run)
    return run
  }

  it('a warning raised by the worker in process A is published on edge B, where its device is connected, and on A', async () => {
    const a = await start('edge,worker,api')
    const b = await start('edge,api')
    expect(b.worker).toBeNull()
    const [d] = await provision(a.apiUrl, ADMIN_KEY, ['refrigerator'], 'BUS')
    const onA = listen(a)
    const onB = listen(b)
    const device = await mqtt.connectAsync(b.mqttUrl, { clientId: d!.username, username: d!.username, password: d!.password, will: offlineWill(d!.deviceId) })
    try {
      await device.publishAsync(`appliances/${d!.deviceId}/events`, JSON.stringify({ v: 1, ts: Date.now(), code: 'E7' }), { qos: 1 })
      await waitFor('the warning on both edges', async () => (onA.length > 0 && onB.length > 0 ? true : undefined), 20_000, 100)
      await new Promise((r) => setTimeout(r, 500))
      expect(onB).toEqual([{ deviceId: d!.deviceId, kind: 'warning.raised' }])
      expect(onA).toEqual([{ deviceId: d!.deviceId, kind: 'warning.raised' }])
    } finally {
      await device.endAsync(true)
    }
  }, 60_000)
})
