/**
 * Issue 4: the production profile serves devices over TLS on the public address and keeps plain
 * MQTT on loopback only. 127.0.0.2 stands in for the public address (it is loopback on Linux).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { connectOnce, offlineWill, provision } from './helpers.ts'

const ADMIN_KEY = 'e2e-production-admin-key-012345'

const connect = (url: string, username: string, password: string, ca?: Buffer) =>
  connectOnce(url, { clientId: username, username, password, connectTimeout: 5000, will: offlineWill(username), ...(ca ? { ca, rejectUnauthorized: true } : {}) })

describe('production profile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forewarn-prod-'))
  let run: Running | undefined
  afterAll(async () => {
    await run?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('accepts devices over TLS on the public address and plain MQTT on loopback only', async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=127.0.0.2', '-addext', 'subjectAltName=IP:127.0.0.2'], { stdio: 'ignore' })
    const config = loadStartConfig({ dataDir: join(dir, 'data'), host: '127.0.0.2', mqttPort: 0, apiPort: 0, simulate: 0, profile: 'production', tlsPort: 0, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }, { FOREWARN_ADMIN_KEY: ADMIN_KEY })
    run = await startForewarn(config, pino({ level: 'silent' }))
    const [d] = await provision(run.apiUrl, ADMIN_KEY, ['refrigerator'], 'PROD')
    const tlsPort = run.broker?.tlsPort as number
    const ca = execFileSync('cat', [join(dir, 'cert.pem')])

    const overTls = await connect(`mqtts://127.0.0.2:${tlsPort}`, d!.username, d!.password, ca)
    expect(overTls.error).toBeNull()
    // QoS 1: resolves on the PUBACK, which Forewarn sends only after the reading is committed.
    await overTls.client.publishAsync(`appliances/${d!.deviceId}/telemetry`, JSON.stringify({ v: 1, boot: 1, ts: Date.now() - 1000, seq: 0, metrics: { cabinet_temp_c: 4 } }), { qos: 1 })
    expect(run.ingest.stats().accepted).toBe(1)
    overTls.client.end(true)

    const plainPublic = await connect(`mqtt://127.0.0.2:${run.mqttPort}`, d!.username, d!.password)
    expect((plainPublic.error as NodeJS.ErrnoException | null)?.code).toBe('ECONNREFUSED')
    plainPublic.client.end(true)
    const plainLoopback = await connect(`mqtt://127.0.0.1:${run.mqttPort}`, d!.username, d!.password)
    expect(plainLoopback.error).toBeNull()
    plainLoopback.client.end(true)
  }, 60_000)
})
