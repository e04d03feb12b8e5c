/**
 * Issue 17, across edges: a warning raised by a worker in one process reaches MQTT subscribers on
 * every edge, so a client connected to another edge gets it too. The device is connected to edge
 * B, which runs no worker; the worker in process A raises the warning from B's device event.
 */
import mqtt from 'mqtt'
import { expect, it } from 'vitest'
import type { Running } from '../../cli/start.ts'
import { describeService } from '../services/availability.ts'
import { offlineWill, provision, waitFor } from '../e2e/helpers.ts'
import { useCluster } from './harness.ts'

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
  const cluster = useCluster({ name: 'bus', adminKey: ADMIN_KEY, databases: ['bus'] })
  const start = (roles: string): Promise<Running> => cluster.start(roles)

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
