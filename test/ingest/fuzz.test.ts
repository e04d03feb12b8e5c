/**
 * Issue 5, bad input: 100,000 random and mutated payloads thrown at ingest, mixed with valid
 * readings from other devices. Nothing throws or crashes, every payload gets an outcome (accepted,
 * duplicate or refused with a reason), every refusal is counted, the dead-letter store stays
 * bounded, and every valid reading in the mix arrives exactly once.
 */
import { afterAll, expect, it } from 'vitest'
import { metricNames, type Reading, type TopicKind } from '../../domain/index.ts'
import { createIngest } from '../../ingest/index.ts'
import { rng } from '../../simulators/appliance.ts'

const NOW = Date.UTC(2026, 5, 1)
const FUZZ_PAYLOADS = 100_000
const CLEAN_DEVICES = 20
const MAX_REJECTS = 500
const fridgeMetrics = [...(metricNames.refrigerator ?? [])]

const known = new Map<string, { type: 'refrigerator'; revoked: boolean }>()
for (let i = 0; i < CLEAN_DEVICES; i++) known.set(`clean${i}`, { type: 'refrigerator', revoked: false })
for (let i = 0; i < 50; i++) known.set(`fuzz${i}`, { type: 'refrigerator', revoked: false })
known.set('revoked', { type: 'refrigerator', revoked: true })

const rand = rng(20261122)
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T

function validBody(seq: number, boot: number): Record<string, unknown> {
  const metrics: Record<string, number> = {}
  for (const m of fridgeMetrics) if (rand() < 0.7) metrics[m] = Math.round((rand() * 40 - 10) * 100) / 100
  return { v: 1, boot, ts: NOW - 3_600_000 + seq * 1000, seq, metrics }
}

const junkValues: unknown[] = ['x', null, true, [], {}, -1, 1.5, 2 ** 60, '1e999', 'NaN', { $ne: 1 }, '\u0000', 'ü'.repeat(40)]

/** One of many ways firmware, networks and attackers get payloads wrong. */
function mutate(seq: number): Buffer {
  const base = validBody(seq, 7)
  switch (Math.floor(rand() * 14)) {
    case 0: { // random bytes
      const b = Buffer.alloc(Math.floor(rand() * 300))
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256)
      return b
    }
    case 1: { // bit flips in a valid payload
      const b = Buffer.from(JSON.stringify(base))
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
        const i = Math.floor(rand() * b.length)
        b[i] = (b[i] as number) ^ (1 << Math.floor(rand() * 8))
      }
      return b
    }
    case 2: return Buffer.from(JSON.stringify(base).slice(0, Math.floor(rand() * 60))) // truncated
    case 3: return Buffer.from(JSON.stringify({ ...base, v: pick([0, 2, '1', null, 1.0001]) }))
    case 4: return Buffer.from(JSON.stringify({ ...base, [pick(['ts', 'seq', 'boot', 'metrics'])]: pick(junkValues) }))
    case 5: return Buffer.from(JSON.stringify(base).replace(/:(-?\d+(\.\d+)?)([,}])/, ':1e999$3')) // overflows to Infinity
    case 6: return Buffer.from(JSON.stringify({ ...base, metrics: { ...(base.metrics as object), [pick(['door_openz', 'Temp', 'x'.repeat(70), '__proto__', 'constructor'])]: 1 } }))
    case 7: return Buffer.from(JSON.stringify({ ...base, ts: NOW + pick([10 * 60_000, 365 * 86_400_000]) }))
    case 8: return Buffer.from(JSON.stringify({ ...base, ts: pick([0, 1, NOW - 800 * 86_400_000]) }))
    case 9: return Buffer.alloc(300 * 1024, 0x20) // oversize
    case 10: return Buffer.from(JSON.stringify({ v: 1, boot: 7, readings: pick([[], [base], 'x', [{ ...base, v: undefined, boot: undefined }, 1]]) }))
    case 11: return Buffer.from(pick(['', 'null', '[]', '"str"', '1', '{', '{"v":1', '{"v":1,"boot":1,"ts":1,"seq":1,"metrics":[]}']))
    case 12: return Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`) // deep nesting
    default: return Buffer.from(JSON.stringify({ ...base, extra: 'field' }))
  }
}

const received: Reading[] = []
const ingest = createIngest({
  dataDir: null,
  lookupDevice: (id) => known.get(id),
  onReadings: (rs) => {
    for (const r of rs) if (r.deviceId.startsWith('clean')) received.push(r)
  },
  onStatus: () => undefined,
  onDeviceEvent: () => undefined,
  now: () => NOW,
  maxRejects: MAX_REJECTS,
})
afterAll(() => ingest.close())

it('survives 100,000 random and mutated payloads and delivers every valid reading exactly once', async () => {
  await ingest.start()
  const sentClean = new Set<string>()
  const nextSeq = new Array<number>(CLEAN_DEVICES).fill(0)
  let outcomes = 0
  let refused = 0
  let ok = 0
  const kinds: TopicKind[] = ['telemetry', 'telemetry', 'telemetry', 'status', 'events']
  const CHUNK = 1000
  for (let done = 0; done < FUZZ_PAYLOADS; done += CHUNK) {
    const work: Promise<void>[] = []
    for (let i = 0; i < CHUNK; i++) {
      const n = done + i
      const device = rand() < 0.02 ? pick(['revoked', 'nobody', 'fuzz0']) : `fuzz${n % 50}`
      work.push(ingest.accept(device, pick(kinds), mutate(n)).then((o) => {
        outcomes++
        if (o.ok) ok++
        else refused++
      }))
      if (i % 10 === 0) { // a valid reading from a clean device in the mix, sometimes as a batch, sometimes resent
        const d = Math.floor(rand() * CLEAN_DEVICES)
        const seq = nextSeq[d] as number
        nextSeq[d] = seq + 1
        sentClean.add(`clean${d}/${seq}`)
        const body = validBody(seq, 1)
        const payload = rand() < 0.2 ? { v: 1, boot: 1, readings: [{ ts: body.ts, seq, metrics: body.metrics }] } : body
        work.push(ingest.accept(`clean${d}`, 'telemetry', Buffer.from(JSON.stringify(payload))).then((o) => expect(o.ok).toBe(true)))
        if (rand() < 0.05) work.push(ingest.accept(`clean${d}`, 'telemetry', Buffer.from(JSON.stringify(payload))).then((o) => expect(o.ok).toBe(true)))
      }
    }
    await Promise.all(work)
  }
  const deadLetters = ingest.rejects({ limit: 1000 }).items.length
  await ingest.close()

  expect(outcomes).toBe(FUZZ_PAYLOADS)
  expect(refused).toBeGreaterThan(FUZZ_PAYLOADS / 2)
  const stats = ingest.stats()
  expect(stats.rejectedTotal).toBe(refused)
  expect(Object.values(stats.rejected).reduce((a, b) => a + b, 0)).toBe(refused)
  expect(deadLetters).toBe(MAX_REJECTS)
  expect(stats.processingErrors).toBe(0)
  const got = received.map((r) => `${r.deviceId}/${r.seq}`)
  expect(new Set(got).size).toBe(got.length)
  expect(new Set(got)).toEqual(sentClean)
  expect(ok + refused).toBe(FUZZ_PAYLOADS)
}, 180_000)
