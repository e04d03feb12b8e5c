/**
 * The console's recent-telemetry window lives in the records store: after `forewarn start` is
 * stopped and started again on the same data directory (no fleet the second time, so no new
 * readings), the appliance's chart data is still there, as it was at the stop. After a crash
 * (SIGKILL), the readings replayed from the journal count once in their buckets, not twice.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'
import { windowFor } from '../../api/console/telemetry.ts'
import { openStore } from '../../api/store/index.ts'
import { freePort } from '../services/process.ts'
import { apiCall, offlineWill, provision, spawnForewarn, waitFor } from '../e2e/helpers.ts'

const KEY = 'console-window-test-admin-key-0123456789'
const env = { FOREWARN_ADMIN_KEY: KEY, FOREWARN_SIMULATE_DAYS: '2', FOREWARN_SIMULATE_CATCH_UP_S: '2', FOREWARN_CONSOLE_WINDOW_HOURS: '48' }

interface Series { times: number[]; values: Array<Array<number | null>>; bucketMs: number; source: string }

async function chart(run: Running, deviceId: string): Promise<Series | null> {
  const signed = await fetch(`${run.apiUrl}/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `key=${KEY}`, redirect: 'manual' })
  const cookie = (signed.headers.get('set-cookie') ?? '').split(';')[0]!
  const res = await fetch(`${run.apiUrl}/console/appliances/${deviceId}/telemetry`, { headers: { cookie } })
  expect(res.status).toBe(200)
  return ((await res.json()) as { series: Series | null }).series
}

describe('the recent-telemetry window across a restart', () => {
  let dir = ''
  let run: Running | undefined
  afterEach(async () => {
    await run?.stop()
    run = undefined
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('the charts show the same window after a stop and a start on the same data directory', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-window-'))
    const dataDir = join(dir, 'data')
    run = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 2 }, env), pino({ level: 'silent' }), env)
    const deviceId = (await run.store.listDevices({ limit: 10 })).items[0]!.id
    // Two days of event time replayed in ~2 s: wait until the window holds most of its 48 hourly buckets.
    const deadline = Date.now() + 60_000
    let before: Series | null = null
    while (Date.now() < deadline) {
      before = await chart(run, deviceId)
      if (before !== null && before.times.length >= 40) break
      await new Promise((r) => setTimeout(r, 500))
    }
    expect(before?.times.length).toBeGreaterThanOrEqual(40)
    await run.stop()
    const stored = await (async () => {
      run = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0 }, env), pino({ level: 'silent' }), env)
      return chart(run, deviceId)
    })()
    expect(stored).not.toBeNull()
    expect([stored!.source, stored!.bucketMs]).toEqual(['store', 3_600_000])
    // Readings kept arriving between the look and the stop: the stored window has at least as much, never less.
    expect(stored!.times.length).toBeGreaterThanOrEqual(before!.times.length)
    // Buckets that were complete at the look (not the newest few, which later readings joined) are
    // the same numbers after the restart, unless the window has since slid past them.
    const complete = before!.times.slice(0, -3).filter((t) => t >= stored!.times[0]!)
    expect(complete.length).toBeGreaterThan(30)
    for (const t of complete) {
      const i = before!.times.indexOf(t)
      const j = stored!.times.indexOf(t)
      expect([t, stored!.values.map((row) => row[j])]).toEqual([t, before!.values.map((row) => row[i])])
    }
    expect(stored!.values.flat().filter((v) => v !== null).length).toBeGreaterThan(100)
  }, 120_000)

  it('after a crash, readings replayed from the journal count once in the window', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-window-crash-'))
    const dataDir = join(dir, 'data')
    const apiPort = await freePort()
    const mqttPort = await freePort()
    // No checkpoint before the kill: every reading is replayed at the next start.
    const child = await spawnForewarn(['--data-dir', dataDir, '--mqtt-port', String(mqttPort)], { ...env, FOREWARN_CHECKPOINT_MS: '600000' }, apiPort)
    const api = `http://127.0.0.1:${apiPort}`
    let deviceId = ''
    try {
      const [dev] = await provision(api, KEY, ['refrigerator'], 'crash')
      deviceId = dev!.deviceId
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: dev!.username, password: dev!.password, clientId: deviceId, will: offlineWill(deviceId), reconnectPeriod: 0 })
      // One hourly bucket, three hours back.
      const t0 = Math.floor(Date.now() / 3_600_000 - 3) * 3_600_000
      // QoS 1: each resolves at its PUBACK, after the journal commit.
      for (let seq = 0; seq < 12; seq++) {
        await client.publishAsync(`appliances/${deviceId}/telemetry`, JSON.stringify({ v: 1, boot: 1, seq, ts: t0 + seq * 60_000, metrics: { cabinet_temp_c: 3 + (seq % 3) } }), { qos: 1 })
      }
      await client.endAsync(true)
      // The health flush that stored this record ran after the readings were folded.
      await waitFor('the health record', async () => {
        const r = await apiCall<{ health: unknown }>(api, KEY, `/devices/${deviceId}`)
        return r.status === 200 && r.body.health !== null ? true : undefined
      }, 30_000)
    } finally {
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
    }
    run = await startForewarn(loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0 }, env), pino({ level: 'silent' }), env)
    await run.stop()
    run = undefined
    const store = openStore({ dataDir })
    try {
      const buckets = store.recentWindow(deviceId, windowFor(48))
      expect(buckets.reduce((n, b) => n + (b.means.cabinet_temp_c?.[1] ?? 0), 0)).toBe(12)
      // Means of 3, 4, 5 repeated: 4 in every bucket that holds a full cycle.
      expect(buckets.map((b) => b.means.cabinet_temp_c?.[0])).toEqual([4])
    } finally {
      store.close()
    }
  }, 120_000)
})
