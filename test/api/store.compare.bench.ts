/**
 * The embedded store of this checkout against another checkout's, in one process and interleaved
 * rounds, so both see the same machine load: ms per operation, in memory (the store's own CPU
 * cost) and on a file (fsync per commit), median of the rounds.
 *
 *   npx tsx test/api/store.compare.bench.ts OTHER_CHECKOUT [rounds]
 *
 * OTHER_CHECKOUT needs its node_modules. Uses only the synchronous `openStore` interface.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Store, StoreOptions } from '../../api/store/index.ts'
import { openStore } from '../../api/store/index.ts'
import { event, fridge } from './fixtures.ts'

const other = process.argv[2]
if (other === undefined) throw new Error('usage: store.compare.bench.ts OTHER_CHECKOUT [rounds]')
const rounds = Number(process.argv[3] ?? 5)
const theirs = (await import(resolve(other, 'api/store/index.ts'))) as { openStore: (o: StoreOptions) => Store }
const sides = { other: theirs.openStore, this: openStore }
const core = { overall: 80, status: 'healthy' as const, components: { compressor: { score: 80, reason: 'ok' } }, usage: { runningHours: 1, cycles: 2, doorOpenings: 3 }, lastEventTime: 1, warmingUp: false }

function round(open: (o: StoreOptions) => Store, where: 'memory' | 'file', devices: number): Record<string, number> {
  const dir = where === 'file' ? mkdtempSync(join(tmpdir(), 'fw-bench-')) : null
  const s = open({ dataDir: dir, deliveryAdapters: ['rt'] })
  const out: Record<string, number> = {}
  const time = (label: string, n: number, fn: () => void) => {
    const t = performance.now()
    fn()
    out[`${where} ${label}`] = (performance.now() - t) / n
  }
  const ids: string[] = []
  time('createDevice', devices, () => { for (let i = 0; i < devices; i++) ids.push(s.createDevice({ ...fridge, serial: `S${i}` }).device.id) })
  time('saveHealth', devices, () => { for (const id of ids) s.saveHealth(id, core) })
  time('saveHealthBatch, per device', devices * 10, () => { for (let r = 0; r < 10; r++) s.saveHealthBatch(ids.map((id) => [id, core] as const)) })
  time('applyDetectorEvent, new ticket', devices, () => { for (const id of ids) s.applyDetectorEvent(event(id), Date.now()) })
  time('applyDetectorEvent, escalation', devices, () => { for (const id of ids) s.applyDetectorEvent(event(id, { kind: 'warning.escalated', severity: 'critical' }), Date.now()) })
  time('applyDetectorEvent, replay', devices, () => { for (const id of ids) s.applyDetectorEvent(event(id), Date.now()) })
  const pw = s.rotateCredentials(ids[0]!).password
  time('verifyDeviceCredentials', 2000, () => { for (let i = 0; i < 2000; i++) s.verifyDeviceCredentials(ids[0]!, Buffer.from(pw)) })
  s.close()
  if (dir !== null) rmSync(dir, { recursive: true })
  return out
}

const samples: Record<string, Record<string, number[]>> = { other: {}, this: {} }
for (let r = 0; r < rounds + 1; r++) {
  for (const [name, open] of Object.entries(sides)) {
    for (const [where, n] of [['memory', 500], ['file', 100]] as const) {
      const res = round(open, where, n)
      if (r === 0) continue // warm-up
      for (const [k, v] of Object.entries(res)) (samples[name]![k] ??= []).push(v)
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`| ms per operation (median of ${rounds}) | ${other} | this checkout | this / other |`)
console.log('|---|---:|---:|---:|')
for (const k of Object.keys(samples.this!)) {
  const a = median(samples.other![k]!)
  const b = median(samples.this![k]!)
  console.log(`| ${k} | ${a.toFixed(4)} | ${b.toFixed(4)} | ${(b / a).toFixed(2)} |`)
}
