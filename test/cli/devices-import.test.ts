/** `forewarn devices import`: a production batch through the real API; bad rows reported, the rest provisioned. */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'

const run = promisify(execFile)
const ADMIN_KEY = 'devices-import-admin-key-012345'
const bin = join(import.meta.dirname, '..', '..', 'bin', 'forewarn.js')

describe('forewarn devices import', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forewarn-import-'))
  let forewarn: Running | undefined
  afterAll(async () => {
    await forewarn?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('provisions every good row, reports bad ones by line, and keeps the secrets in a private file', async () => {
    forewarn = await startForewarn(loadStartConfig({ dataDir: join(dir, 'data'), mqttPort: 0, apiPort: 0, simulate: 0 }, { FOREWARN_ADMIN_KEY: ADMIN_KEY }), pino({ level: 'silent' }))
    const csv = join(dir, 'batch.csv')
    writeFileSync(csv, [
      'type,model,serial,region,installDate,warrantyEnd,extendedWarranty,ownerRef',
      'refrigerator,FR-300,B-0001,north,2026-01-10,2028-01-10,compressor:2031-01-10,cust-1',
      'toaster,T-1,B-0002,north,2026-01-10,2028-01-10,,',
      '"water_heater",WH-50,"B-0003, rev2",south,2026-02-01,2028-02-01,,',
    ].join('\r\n'))
    const out = join(dir, 'credentials.csv')
    const res = await run(process.execPath, [bin, 'devices', 'import', csv, '--api', forewarn.apiUrl, '--api-key', ADMIN_KEY, '--out', out, '--json']).catch((e: { code: number; stdout: string; stderr: string }) => e)
    expect('code' in res ? res.code : 0).toBe(1)
    const summary = JSON.parse(res.stdout.trim().split('\n').at(-1) as string) as { rows: number; provisioned: number; failed: { line: number; serial: string }[] }
    expect(summary.rows).toBe(3)
    expect(summary.provisioned).toBe(2)
    expect(summary.failed.map((f) => [f.line, f.serial])).toEqual([[3, 'B-0002']])
    expect(statSync(out).mode & 0o777).toBe(0o600)
    const rows = readFileSync(out, 'utf8').trim().split('\n')
    expect(rows[0]).toBe('deviceId,username,password,serial')
    expect(rows).toHaveLength(3)
    expect(rows[2]).toMatch(/^wh-[a-z0-9]{12},wh-[a-z0-9]{12},[^,]{20,},"B-0003, rev2"$/)
    const deviceId = rows[1]!.split(',')[0]!
    const device = await (await fetch(`${forewarn.apiUrl}/devices/${deviceId}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json() as { device: { serial: string; warranty: unknown; ownerRef: string } }
    expect(device.device.serial).toBe('B-0001')
    expect(device.device.ownerRef).toBe('cust-1')
    expect(device.device.warranty).toEqual({ standardEnd: '2028-01-10', extended: [{ component: 'compressor', end: '2031-01-10' }] })
  }, 60_000)
})
