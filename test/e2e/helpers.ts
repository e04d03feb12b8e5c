/** Shared by the end-to-end suites: HTTP calls with a bearer key, bounded polling, provisioning. */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { expect } from 'vitest'
import type { InfluxDBService } from '../services/influxdb.ts'
import { applianceSpec, type ApplianceType } from '../../domain/index.ts'

export async function apiCall<T>(baseUrl: string, key: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  })
  return { status: res.status, body: (await res.json()) as T }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export interface Provisioned {
  deviceId: string
  username: string
  password: string
  type: ApplianceType
  seed: number
}

export async function provision(baseUrl: string, key: string, types: readonly ApplianceType[], serialPrefix: string): Promise<Provisioned[]> {
  const out: Provisioned[] = []
  for (const [i, type] of types.entries()) {
    const { status, body } = await apiCall<{ device: { id: string }; credentials: { username: string; password: string } }>(baseUrl, key, '/devices', {
      method: 'POST',
      body: JSON.stringify({ type, model: applianceSpec(type).models[0], serial: `${serialPrefix}-${i}`, region: 'north', installDate: '2025-01-15', warranty: { standardEnd: '2028-01-15', extended: [] } }),
    })
    if (status !== 201) throw new Error(`provisioning failed with ${status}: ${JSON.stringify(body)}`)
    out.push({ deviceId: body.device.id, username: body.credentials.username, password: body.credentials.password, type, seed: 100 + i })
  }
  return out
}

/** One MQTT connection attempt, no reconnects: resolves with the client and the error, if any. */
export function connectOnce(url: string, opts: mqtt.IClientOptions): Promise<{ client: mqtt.MqttClient; error: Error | null }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, clean: true, ...opts })
    client.once('connect', () => resolve({ client, error: null }))
    client.once('error', (error) => resolve({ client, error }))
  })
}

/** The last will a device must carry (the broker enforces it). */
export const offlineWill = (deviceId: string) => ({ topic: `appliances/${deviceId}/status`, payload: Buffer.from('{"v":1,"state":"offline"}'), qos: 1 as const, retain: true })

/**
 * Waits until InfluxDB holds `readings` telemetry points for every device, lets late writes land,
 * then asserts exactly that many per device: a lost point lowers a count, and none can count twice
 * (a point is keyed by series and timestamp).
 */
export async function expectExactlyPerDevice(influx: InfluxDBService, deviceIds: readonly string[], readings: number): Promise<void> {
  const perDevice = async (): Promise<Record<string, number>> => {
    const rows = await influx.query('SELECT count(cabinet_temp_c) AS n FROM telemetry GROUP BY device_id')
    const out: Record<string, number> = {}
    for (const r of rows) out[String(r.device_id)] = Number(r.n)
    return out
  }
  await waitFor('every reading in InfluxDB', async () => {
    const got = await perDevice()
    return deviceIds.every((id) => (got[id] ?? 0) >= readings) ? true : undefined
  }, 60_000, 500)
  await new Promise((r) => setTimeout(r, 1000))
  const got = await perDevice()
  expect(Object.fromEntries(deviceIds.map((id) => [id, got[id]]))).toEqual(Object.fromEntries(deviceIds.map((id) => [id, readings])))
}

const bin = join(import.meta.dirname, '..', '..', 'bin', 'forewarn.js')

/** `forewarn start ARGS` as its own process (so a test can SIGKILL it); resolves once its API answers. */
export async function spawnForewarn(args: readonly string[], env: Record<string, string>, apiPort: number): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [bin, 'start', '--simulate', '0', '--api-port', String(apiPort), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  await waitFor('forewarn to answer', async () => {
    try {
      return (await fetch(`http://127.0.0.1:${apiPort}/healthz`)).ok ? true : undefined
    } catch {
      return undefined
    }
  }, 30_000, 100)
  return proc
}
