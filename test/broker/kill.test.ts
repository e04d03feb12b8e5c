/**
 * No acknowledged reading is lost, none processed twice: SIGKILL the broker+ingest process while a
 * fleet publishes, restart it on the same port and data directory, and count sequence numbers.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runFleet } from '../../simulators/fleet.ts'

const fixture = join(import.meta.dirname, 'fixtures', 'pipeline-process.ts')
const children: ChildProcess[] = []
let dir = ''
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function start(port: number, devices: number): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(port), String(devices)], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const lines: string[] = []
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString()
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        lines.push(line)
        if (line.startsWith('READY ')) resolve({ child, port: Number(line.slice(6)), lines })
      }
    })
    child.once('exit', (code) => reject(new Error(`pipeline exited early (${code})`)))
  })
}

describe('kill test', () => {
  it('every acknowledged reading is processed exactly once across a SIGKILL', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-kill-'))
    const devices = 5
    const perDevice = 300
    const first = await start(0, devices)
    const members = Array.from({ length: devices }, (_, i) => ({
      deviceId: `dev${i}`, username: `dev${i}`, password: `pw-dev${i}`, type: 'refrigerator' as const, seed: i + 1,
    }))
    const fleet = runFleet({
      brokerUrl: `mqtt://127.0.0.1:${first.port}`, members, startMs: Date.now() - 86_400_000,
      readingsPerDevice: perDevice, intervalMs: 2, simMsPerTick: 60_000, maxInflightPerDevice: 8,
    })
    // Kill under load, once part of the fleet's readings are acknowledged.
    for (let i = 0; i < 500 && fleet.stats().acknowledged < (devices * perDevice) / 3; i++) await new Promise((r) => setTimeout(r, 10))
    const ackedBeforeKill = fleet.stats().acknowledged
    first.child.kill('SIGKILL')
    await new Promise((r) => first.child.once('exit', r))
    const second = await start(first.port, devices)
    const summary = await fleet.done
    expect(ackedBeforeKill).toBeGreaterThan(0)
    expect(ackedBeforeKill).toBeLessThan(devices * perDevice)
    expect(summary).toMatchObject({ published: devices * perDevice, acknowledged: devices * perDevice, failed: 0 })

    second.child.kill('SIGTERM')
    await new Promise((r) => second.child.once('exit', r))
    const stateLine = second.lines.find((l) => l.startsWith('STATE '))
    const state = JSON.parse((stateLine ?? 'STATE {}').slice(6)) as Record<string, string[]>
    for (const m of members) {
      const seqs = (state[m.deviceId] ?? []).map((x) => Number(x.split(':')[1]))
      // Processed exactly once each, in order: no loss, no duplicates, no gaps.
      expect(seqs).toEqual(Array.from({ length: perDevice }, (_, i) => i))
    }
    console.log(`kill test: ${ackedBeforeKill} of ${devices * perDevice} readings acknowledged before SIGKILL`)
  })
})
