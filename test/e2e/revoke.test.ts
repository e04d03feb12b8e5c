/** Issue 4: a revoked device is disconnected at once and cannot reconnect; a rotated secret replaces the old one. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { apiCall, connectOnce, offlineWill, provision } from './helpers.ts'

const ADMIN_KEY = 'e2e-revoke-admin-key-0123456789'

const connect = (url: string, username: string, password: string) =>
  connectOnce(url, { clientId: username, username, password, will: offlineWill(username) })

describe('revoking and rotating device credentials', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'forewarn-revoke-'))
  let run: Running | undefined
  afterAll(async () => {
    await run?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('disconnects a revoked device at once and refuses it afterwards', async () => {
    run = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 0 }, { FOREWARN_ADMIN_KEY: ADMIN_KEY }), pino({ level: 'silent' }))
    const [a, b] = await provision(run.apiUrl, ADMIN_KEY, ['refrigerator', 'water_heater'], 'REVOKE')
    const first = await connect(run.mqttUrl, a!.username, a!.password)
    expect(first.error).toBeNull()
    const closed = new Promise<void>((r) => first.client.once('close', () => r()))
    expect((await apiCall(run.apiUrl, ADMIN_KEY, `/devices/${a!.deviceId}/revoke`, { method: 'POST', body: '{}' })).status).toBe(200)
    await closed
    first.client.end(true)
    const again = await connect(run.mqttUrl, a!.username, a!.password)
    expect(again.error?.message).toMatch(/Bad username or password|Not authorized/)
    again.client.end(true)

    const old = await connect(run.mqttUrl, b!.username, b!.password)
    expect(old.error).toBeNull()
    const oldClosed = new Promise<void>((r) => old.client.once('close', () => r()))
    const rotated = await apiCall<{ username: string; password: string }>(run.apiUrl, ADMIN_KEY, `/devices/${b!.deviceId}/credentials`, { method: 'POST', body: '{}' })
    expect(rotated.status).toBe(200)
    await oldClosed
    old.client.end(true)
    const withOld = await connect(run.mqttUrl, b!.username, b!.password)
    expect(withOld.error?.message).toMatch(/Bad username or password|Not authorized/)
    withOld.client.end(true)
    const withNew = await connect(run.mqttUrl, rotated.body.username, rotated.body.password)
    expect(withNew.error).toBeNull()
    withNew.client.end(true)
  }, 60_000)
})
