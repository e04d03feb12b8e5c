/**
 * Issue 4: the production profile serves devices over TLS on the public address and keeps plain
 * MQTT on loopback only. 127.0.0.2 stands in for the public address (it is loopback on Linux).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { catalogue } from '../../domain/index.ts'
import { connectOnce, offlineWill } from './helpers.ts'

const ADMIN_KEY = 'e2e-production-admin-key-012345'

const connect = (url: string, username: string, password: string, ca?: Buffer) =>
  connectOnce(url, { clientId: username, username, password, connectTimeout: 5000, will: offlineWill(username), ...(ca ? { ca, rejectUnauthorized: true } : {}) })

/** One HTTPS request that trusts only `ca`. */
function httpsCall(url: string, ca: Buffer, init: { method?: string; key?: string; body?: unknown } = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = init.body === undefined ? undefined : JSON.stringify(init.body)
    const req = httpsRequest(url, {
      method: init.method ?? 'GET', ca,
      headers: { ...(init.key ? { authorization: `Bearer ${init.key}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

describe('production profile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forewarn-prod-'))
  let run: Running | undefined
  afterAll(async () => {
    await run?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('accepts devices over TLS on the public address and plain MQTT on loopback only; the API is HTTPS', async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=127.0.0.2', '-addext', 'subjectAltName=IP:127.0.0.2'], { stdio: 'ignore' })
    const config = loadStartConfig({ dataDir: join(dir, 'data'), host: '127.0.0.2', mqttPort: 0, apiPort: 0, simulate: 0, profile: 'production', tlsPort: 0, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }, { FOREWARN_ADMIN_KEY: ADMIN_KEY })
    run = await startForewarn(config, pino({ level: 'silent' }))
    const tlsPort = run.broker?.tlsPort as number
    const ca = readFileSync(join(dir, 'cert.pem'))
    // The API is served over TLS with the same certificate, and not over plain HTTP.
    expect(run.apiUrl).toBe(`https://127.0.0.2:${run.apiPort}`)
    await expect(fetch(`http://127.0.0.2:${run.apiPort}/healthz`)).rejects.toThrow()
    const created = await httpsCall(`${run.apiUrl}/devices`, ca, {
      method: 'POST', key: ADMIN_KEY,
      body: { type: 'refrigerator', model: catalogue.refrigerator.models[0], serial: 'PROD-0', region: 'north', installDate: '2025-01-15', warranty: { standardEnd: '2028-01-15', extended: [] } },
    })
    expect(created.status).toBe(201)
    const { device, credentials } = created.body as { device: { id: string }; credentials: { username: string; password: string } }
    const d = { deviceId: device.id, username: credentials.username, password: credentials.password }
    expect((await httpsCall(`${run.apiUrl}/tickets`, ca, { key: ADMIN_KEY })).status).toBe(200)

    const overTls = await connect(`mqtts://127.0.0.2:${tlsPort}`, d.username, d.password, ca)
    expect(overTls.error).toBeNull()
    // QoS 1: resolves on the PUBACK, which Forewarn sends only after the reading is committed.
    await overTls.client.publishAsync(`appliances/${d.deviceId}/telemetry`, JSON.stringify({ v: 1, boot: 1, ts: Date.now() - 1000, seq: 0, metrics: { cabinet_temp_c: 4 } }), { qos: 1 })
    expect(run.ingest.stats().accepted).toBe(1)
    overTls.client.end(true)

    const plainPublic = await connect(`mqtt://127.0.0.2:${run.mqttPort}`, d.username, d.password)
    expect((plainPublic.error as NodeJS.ErrnoException | null)?.code).toBe('ECONNREFUSED')
    plainPublic.client.end(true)
    const plainLoopback = await connect(`mqtt://127.0.0.1:${run.mqttPort}`, d.username, d.password)
    expect(plainLoopback.error).toBeNull()
    plainLoopback.client.end(true)
  }, 60_000)
})
