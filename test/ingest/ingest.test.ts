import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { DeviceEventV1, Reading } from '../../domain/index.ts'
import { createIngest, type Ingest, type IngestOptions } from '../../ingest/index.ts'

const NOW = Date.UTC(2026, 0, 10)
const devices: Record<string, { type: 'refrigerator'; revoked: boolean }> = {
  fridge1: { type: 'refrigerator', revoked: false },
  fridge2: { type: 'refrigerator', revoked: false },
  gone: { type: 'refrigerator', revoked: true },
}
const metrics = { cabinet_temp_c: 4.1, compressor_current_a: 1.2 }
const single = (seq: number, boot = 1, ts = NOW - 1000 + seq): Buffer =>
  Buffer.from(JSON.stringify({ v: 1, boot, ts, seq, metrics }))
const batch = (seqs: number[], boot = 1): Buffer =>
  Buffer.from(JSON.stringify({ v: 1, boot, readings: seqs.map((seq) => ({ ts: NOW - 5000 + seq, seq, metrics })) }))

interface Harness {
  ingest: Ingest
  readings: Reading[]
  statuses: [string, string, number][]
  events: [string, DeviceEventV1][]
}

const open: Ingest[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const i of open.splice(0)) await i.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function make(dataDir: string | null = null, extra: Partial<IngestOptions> = {}): Harness {
  const h: Harness = { ingest: null as unknown as Ingest, readings: [], statuses: [], events: [] }
  h.ingest = createIngest({
    dataDir,
    lookupDevice: (id) => devices[id],
    onReadings: (rs) => {
      h.readings.push(...rs)
    },
    onStatus: (id, state, ts) => h.statuses.push([id, state, ts]),
    onDeviceEvent: (id, ev) => h.events.push([id, ev]),
    now: () => NOW,
    groupCommitMs: 0,
    ...extra,
  })
  open.push(h.ingest)
  return h
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('ingest contract', () => {
  it('accepts a single reading and hands it over in journal order', async () => {
    const h = make()
    await h.ingest.start()
    expect(await h.ingest.accept('fridge1', 'telemetry', single(0))).toEqual({ ok: true, accepted: 1, duplicates: 0 })
    await tick()
    expect(h.readings).toEqual([{ deviceId: 'fridge1', boot: 1, seq: 0, ts: NOW - 1000, metrics }])
    expect(h.ingest.stats().accepted).toBe(1)
  })

  it('accepts a batch and drops QoS 1 redeliveries and re-uploads by (device, boot, seq)', async () => {
    const h = make()
    await h.ingest.start()
    expect(await h.ingest.accept('fridge1', 'telemetry', batch([0, 1, 2]))).toEqual({ ok: true, accepted: 3, duplicates: 0 })
    expect(await h.ingest.accept('fridge1', 'telemetry', single(1))).toEqual({ ok: true, accepted: 0, duplicates: 1 })
    expect(await h.ingest.accept('fridge1', 'telemetry', batch([2, 3]))).toEqual({ ok: true, accepted: 1, duplicates: 1 })
    // The same (boot, seq) from another device is not a duplicate.
    expect(await h.ingest.accept('fridge2', 'telemetry', single(1))).toEqual({ ok: true, accepted: 1, duplicates: 0 })
    await tick()
    expect(h.readings.map((r) => `${r.deviceId}:${r.seq}`)).toEqual(['fridge1:0', 'fridge1:1', 'fridge1:2', 'fridge1:3', 'fridge2:1'])
    expect(h.ingest.stats()).toMatchObject({ accepted: 5, duplicates: 2 })
  })

  it('accepts seq 0 again after a firmware restart bumps boot', async () => {
    const h = make()
    await h.ingest.start()
    await h.ingest.accept('fridge1', 'telemetry', single(0, 1))
    expect(await h.ingest.accept('fridge1', 'telemetry', single(0, 2))).toEqual({ ok: true, accepted: 1, duplicates: 0 })
  })

  it('commits concurrent accepts as one group (one transaction)', async () => {
    const h = make()
    await h.ingest.start()
    const outcomes = await Promise.all([0, 1, 2, 3, 4].map((s) => h.ingest.accept('fridge1', 'telemetry', single(s))))
    expect(outcomes.every((o) => o.ok)).toBe(true)
    expect(h.ingest.stats()).toMatchObject({ batches: 1, lastBatchRows: 5 })
  })

  it('counts and dead-letters every reject reason without throwing', async () => {
    const h = make()
    await h.ingest.start()
    const cases: [string, Parameters<Ingest['accept']>[1], Buffer, string][] = [
      ['fridge1', 'telemetry', Buffer.from('{not json'), 'malformed_json'],
      ['fridge1', 'telemetry', Buffer.from('{"v":1,"boot":1,"seq":0}'), 'schema'],
      ['fridge1', 'telemetry', Buffer.from('{"v":2}'), 'wrong_version'],
      ['fridge1', 'telemetry', Buffer.from(JSON.stringify({ v: 1, boot: 1, ts: NOW, seq: 9, metrics: { bogus_x: 1 } })), 'unknown_metric'],
      ['fridge1', 'telemetry', single(9, 1, NOW + 3600_000), 'future_timestamp'],
      ['fridge1', 'telemetry', single(9, 1, 1000), 'stale_timestamp'],
      ['fridge1', 'telemetry', Buffer.alloc(300 * 1024, 32), 'oversize'],
      ['nobody', 'telemetry', single(0), 'unknown_device'],
      ['gone', 'telemetry', single(0), 'revoked_device'],
      ['fridge1', 'commands', Buffer.from('{}'), 'bad_topic'],
      ['fridge1', 'status', Buffer.from('{"v":1,"state":"sleepy"}'), 'schema'],
    ]
    for (const [id, kind, payload, reason] of cases) {
      const o = await h.ingest.accept(id, kind, payload)
      expect(o.ok ? 'ok' : o.reason).toBe(reason)
    }
    const s = h.ingest.stats()
    expect(s.rejectedTotal).toBe(cases.length)
    expect(s.rejected).toMatchObject({ malformed_json: 1, schema: 2, wrong_version: 1, unknown_metric: 1, future_timestamp: 1, stale_timestamp: 1, oversize: 1, unknown_device: 1, revoked_device: 1, bad_topic: 1 })
    const page1 = h.ingest.rejects({ limit: 6 })
    expect(page1.items.map((r) => r.reason)).toEqual(cases.slice(0, 6).map((c) => c[3]))
    expect(page1.items[0]).toMatchObject({ deviceId: 'fridge1', topicKind: 'telemetry', payloadHead: '{not json', payloadBytes: 9 })
    const page2 = h.ingest.rejects({ limit: 6, after: page1.next ?? undefined })
    expect(page2.items.map((r) => r.reason)).toEqual(cases.slice(6).map((c) => c[3]))
    expect(page2.next).toBeNull()
    expect(h.readings).toEqual([])
  })

  it('bounds the dead-letter table', async () => {
    const h = make(null, { maxRejects: 3 })
    await h.ingest.start()
    for (let i = 0; i < 5; i++) await h.ingest.accept('fridge1', 'telemetry', Buffer.from(`bad${i}`))
    expect(h.ingest.rejects({ limit: 10 }).items.map((r) => r.payloadHead)).toEqual(['bad2', 'bad3', 'bad4'])
    expect(h.ingest.stats().rejected.malformed_json).toBe(5)
  })

  it('reports status and journals firmware events', async () => {
    const h = make()
    await h.ingest.start()
    await h.ingest.accept('fridge1', 'status', Buffer.from('{"v":1,"state":"online","ts":123}'))
    await h.ingest.accept('fridge1', 'events', Buffer.from(JSON.stringify({ v: 1, ts: NOW - 5, code: 'E7', detail: 'door' })))
    expect(await h.ingest.accept('fridge1', 'events', Buffer.from(JSON.stringify({ v: 1, ts: NOW - 5, code: 'E7', detail: 'door' })))).toEqual({ ok: true, accepted: 0, duplicates: 1 })
    await tick()
    expect(h.statuses).toEqual([['fridge1', 'online', 123]])
    expect(h.events).toEqual([['fridge1', { v: 1, ts: NOW - 5, code: 'E7', detail: 'door' }]])
  })

  it('after a crash, start() replays exactly the rows after the checkpointed cursor, with their snapshots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-ingest-'))
    dirs.push(dir)
    const a = make(dir)
    await a.ingest.start()
    await a.ingest.accept('fridge1', 'telemetry', batch([0, 1]))
    await tick()
    // Resolves true once the cursor is recorded (the console window waits for it: cli/start.ts).
    expect(await a.ingest.checkpoint([['fridge1', 'state-after-seq-1']])).toBe(true)
    await a.ingest.accept('fridge1', 'telemetry', batch([2, 3]))
    // Simulated crash: no checkpoint after 2, 3 were committed (and acknowledged).
    await a.ingest.close()

    const b = make(dir)
    expect(b.ingest.loadSnapshots()).toEqual(new Map([['fridge1', 'state-after-seq-1']]))
    // A redelivery that arrives before start() is still a duplicate and not handed over twice.
    expect(await b.ingest.accept('fridge1', 'telemetry', single(3))).toEqual({ ok: true, accepted: 0, duplicates: 1 })
    await b.ingest.start()
    expect(b.readings.map((r) => r.seq)).toEqual([2, 3])
    await b.ingest.accept('fridge1', 'telemetry', single(4))
    await tick()
    expect(b.readings.map((r) => r.seq)).toEqual([2, 3, 4])
  })

  it('holds accept (and so the PUBACK) while the detector is behind by more than maxQueuedRows', async () => {
    let release!: () => void
    const slow = new Promise<void>((r) => (release = r))
    const seen: number[] = []
    const h = make(null, {
      maxQueuedRows: 2,
      onReadings: async (rs) => {
        seen.push(...rs.map((r) => r.seq))
        await slow
      },
    })
    await h.ingest.start()
    expect(await h.ingest.accept('fridge1', 'telemetry', single(0))).toMatchObject({ ok: true })
    await tick()
    // The detector is stuck on seq 0 (still counted as queued until its chunk is done): three more
    // readings push the queue over 2.
    let resolved = false
    const held = h.ingest.accept('fridge1', 'telemetry', batch([1, 2, 3])).then((o) => {
      resolved = true
      return o
    })
    await new Promise((r) => setTimeout(r, 30))
    const stuck = { resolved, queued: h.ingest.stats().queued }
    release()
    expect(stuck).toEqual({ resolved: false, queued: 4 })
    expect(await held).toEqual({ ok: true, accepted: 3, duplicates: 0 })
    expect(seen).toEqual([0, 1, 2, 3])
  })

  it('prunes processed rows past the dedupe retention, keeping unprocessed ones', async () => {
    let t = NOW
    const h = make(null, { now: () => t, dedupeRetentionMs: 60_000 })
    await h.ingest.start()
    await h.ingest.accept('fridge1', 'telemetry', single(0))
    await tick()
    t += 120_000
    h.ingest.checkpoint([])
    // Pruned: the same (boot, seq) is no longer remembered.
    const o = await h.ingest.accept('fridge1', 'telemetry', single(0, 1, t - 1000))
    expect(o).toEqual({ ok: true, accepted: 1, duplicates: 0 })
  })
  it.each([['in memory (inline commit)', false], ['file journal (worker commit)', true]])(
    'keeps ids, order and duplicate counts exact across multi-row chunks, %s',
    async (_name, onDisk) => {
      let dir: string | null = null
      if (onDisk) {
        dir = mkdtempSync(join(tmpdir(), 'forewarn-ingest-'))
        dirs.push(dir)
      }
      const h = make(dir)
      await h.ingest.start()
      const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)
      // 100 rows: one full 64-row chunk and a tail.
      expect(await h.ingest.accept('fridge1', 'telemetry', batch(range(0, 100)))).toEqual({ ok: true, accepted: 100, duplicates: 0 })
      // 150 rows: the first chunk holds 50 duplicates (inserted again row by row), the second is new.
      expect(await h.ingest.accept('fridge1', 'telemetry', batch(range(50, 200)))).toEqual({ ok: true, accepted: 100, duplicates: 50 })
      // A duplicate inside one chunk (a redelivery in the same group).
      const withRepeat = [...range(200, 263), 200]
      expect(await h.ingest.accept('fridge1', 'telemetry', batch(withRepeat))).toEqual({ ok: true, accepted: 63, duplicates: 1 })
      await tick()
      expect(h.readings.map((r) => r.seq)).toEqual(range(0, 263))
      expect(h.ingest.stats()).toMatchObject({ accepted: 263, duplicates: 51, dispatched: 263 })
    },
  )

  it('puts every group waiting for the journal worker into one transaction, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-ingest-'))
    dirs.push(dir)
    const h = make(dir)
    await h.ingest.start()
    // Three groups, one per turn of the event loop, all handed over while the worker is still
    // starting (it compiles its TypeScript first): they queue behind each other.
    const outcomes: Promise<unknown>[] = []
    for (const seqs of [[0], [1, 2], [3]]) {
      outcomes.push(h.ingest.accept('fridge1', 'telemetry', batch(seqs)))
      await tick()
    }
    expect(await Promise.all(outcomes)).toEqual([1, 2, 1].map((n) => ({ ok: true, accepted: n, duplicates: 0 })))
    await tick()
    expect(h.ingest.stats()).toMatchObject({ batches: 1, accepted: 4 })
    expect(h.readings.map((r) => r.seq)).toEqual([0, 1, 2, 3])
  })

  it('prunes by commit time up to the checkpointed cursor, never past it', async () => {
    let t = NOW
    const h = make(null, { now: () => t, dedupeRetentionMs: 60_000 })
    await h.ingest.start()
    for (const [seq, at] of [[0, NOW], [1, NOW + 30_000], [2, NOW + 90_000]] as const) {
      t = at
      await h.ingest.accept('fridge1', 'telemetry', single(seq, 1, NOW - 1000))
    }
    await tick()
    t = NOW + 100_000
    // Cursor at journal id 1: only that row may go, although id 2 is past the retention too.
    h.ingest.checkpoint([], 1)
    const again = async (seq: number): Promise<unknown> => h.ingest.accept('fridge1', 'telemetry', single(seq, 1, NOW - 1000))
    expect(await again(0)).toEqual({ ok: true, accepted: 1, duplicates: 0 })
    expect(await again(1)).toEqual({ ok: true, accepted: 0, duplicates: 1 })

    const k = make(null, { now: () => t, dedupeRetentionMs: 60_000 })
    await k.ingest.start()
    for (const [seq, at] of [[0, NOW], [1, NOW + 30_000], [2, NOW + 90_000]] as const) {
      t = at
      await k.ingest.accept('fridge1', 'telemetry', single(seq, 1, NOW - 1000))
    }
    await tick()
    t = NOW + 100_000
    // Everything processed: rows committed before NOW + 40 s go, the one at NOW + 90 s stays.
    k.ingest.checkpoint([])
    const againK = async (seq: number): Promise<unknown> => k.ingest.accept('fridge1', 'telemetry', single(seq, 1, NOW - 1000))
    expect(await againK(0)).toEqual({ ok: true, accepted: 1, duplicates: 0 })
    expect(await againK(1)).toEqual({ ok: true, accepted: 1, duplicates: 0 })
    expect(await againK(2)).toEqual({ ok: true, accepted: 0, duplicates: 1 })
  })
  it('replays every body shape with its metrics: a message as received, a batch of one, a larger batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forewarn-ingest-'))
    dirs.push(dir)
    const a = make(dir)
    await a.ingest.start()
    const other = { cabinet_temp_c: 5.5, compressor_current_a: 0.9 }
    await a.ingest.accept('fridge1', 'telemetry', single(0))
    await a.ingest.accept('fridge1', 'telemetry', Buffer.from(JSON.stringify({ v: 1, boot: 1, readings: [{ ts: NOW - 900, seq: 1, metrics: other }] })))
    await a.ingest.accept('fridge1', 'telemetry', batch([2, 3]))
    await tick()
    const live = a.readings.map((r) => ({ ...r }))
    await a.ingest.close()

    const b = make(dir)
    await b.ingest.start()
    expect(b.readings).toEqual(live)
    expect(b.readings.map((r) => r.metrics)).toEqual([metrics, other, metrics, metrics])
  })
})
