/**
 * Bench child: the records store's write cost per detector event (`applyDetectorEvent`: a new
 * ticket, an escalation, a replayed event that must add nothing), in memory (the store's own CPU)
 * and on a file (fsync per commit). With another checkout (`forewarn bench --store-before DIR`)
 * both stores run in this one process in interleaved rounds, so both see the same machine load.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { DetectorEvent, Severity } from '../../domain/index.ts'
import { openStore, type NewDevice, type Store, type StoreOptions } from '../../api/store/index.ts'
import { serveRpc } from './rpc.ts'

type Open = (o: StoreOptions) => Store
/** ms per operation: `side → "where operation" → one value per measured round`. */
export type StoreSamples = Record<'this' | 'before', Record<string, number[]>>

const fridge: NewDevice = {
  type: 'refrigerator', model: 'FR-450X', serial: 'SN-0001', region: 'eu-west', installDate: '2024-01-10',
  warranty: { standardEnd: '2026-01-10', extended: [{ component: 'compressor', end: '2030-01-10' }] }, ownerRef: 'cust-42',
}

function event(deviceId: string, over: Partial<DetectorEvent> = {}): DetectorEvent {
  return {
    kind: 'warning.raised', deviceId, episodeId: `${deviceId}:REF-CMPW:1`, faultCode: 'REF-CMPW', component: 'compressor',
    severity: 'warning' as Severity, eventTime: 1_700_000_000_000, message: 'compressor current rising',
    evidence: [{ feature: 'running_current_a', value: 1.9, baseline: 1.2, deviation: 6.1, slopePerDay: 0.02, detail: 'up 58 %' }],
    rul: { medianHours: 260, lowHours: 216, highHours: 336 }, source: 'detector', ...over,
  }
}

/**
 * Another checkout's `openStore`: its built `dist/` when it has one, else its TypeScript through
 * the tsx of that checkout's own node_modules (releases before the build step ran on tsx).
 */
async function openStoreOf(dir: string): Promise<Open> {
  const root = resolve(dir)
  const built = join(root, 'dist/api/store/index.js')
  if (existsSync(built)) return ((await import(pathToFileURL(built).href)) as { openStore: Open }).openStore
  const source = join(root, 'api/store/index.ts')
  if (!existsSync(source)) throw new Error(`--store-before ${dir}: neither dist/api/store/index.js nor api/store/index.ts is there`)
  // The ES-module entry of that tsx's `tsx/esm/api` (require.resolve would give the CommonJS one).
  const pkg = createRequire(join(root, 'package.json')).resolve('tsx/package.json')
  const exported = (JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports
  const api = exported['./esm/api']?.import.default
  if (api === undefined) throw new Error(`--store-before ${dir}: its tsx has no ES-module register API`)
  ;((await import(pathToFileURL(join(dirname(pkg), api)).href)) as { register: () => unknown }).register()
  return ((await import(pathToFileURL(source).href)) as { openStore: Open }).openStore
}

function round(open: Open, where: 'memory' | 'file', devices: number): Record<string, number> {
  const dir = where === 'file' ? mkdtempSync(join(tmpdir(), 'fw-bench-store-')) : null
  const s = open({ dataDir: dir, deliveryAdapters: ['rt'] })
  const out: Record<string, number> = {}
  const time = (label: string, fn: () => void): void => {
    const t = performance.now()
    fn()
    out[`${where}, ${label}`] = (performance.now() - t) / devices
  }
  try {
    const ids = Array.from({ length: devices }, (_, i) => s.createDevice({ ...fridge, serial: `S${i}` }).device.id)
    time('new ticket', () => { for (const id of ids) s.applyDetectorEvent(event(id), Date.now()) })
    time('escalation', () => { for (const id of ids) s.applyDetectorEvent(event(id, { kind: 'warning.escalated', severity: 'critical' }), Date.now()) })
    time('replayed event', () => { for (const id of ids) s.applyDetectorEvent(event(id), Date.now()) })
  } finally {
    s.close()
    if (dir !== null) rmSync(dir, { recursive: true, force: true })
  }
  return out
}

async function measure(p: { before: string | null; rounds: number; memoryDevices: number; fileDevices: number }): Promise<StoreSamples> {
  const sides: [keyof StoreSamples, Open][] = [['this', openStore]]
  if (p.before !== null) sides.unshift(['before', await openStoreOf(p.before)])
  const samples: StoreSamples = { this: {}, before: {} }
  for (let r = 0; r <= p.rounds; r++) {
    for (const [side, open] of sides) {
      for (const [where, n] of [['memory', p.memoryDevices], ['file', p.fileDevices]] as const) {
        const res = round(open, where, n)
        if (r === 0) continue // warm-up round: JIT and page cache
        for (const [k, v] of Object.entries(res)) (samples[side][k] ??= []).push(v)
      }
    }
  }
  return samples
}

serveRpc({ measure, stop: () => null })
