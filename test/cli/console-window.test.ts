/**
 * The console's recent-telemetry window lives in the records store: after `forewarn start` is
 * stopped and started again on the same data directory (no fleet the second time, so no new
 * readings), the appliance's chart data is still there, as it was at the stop.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'

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
})
