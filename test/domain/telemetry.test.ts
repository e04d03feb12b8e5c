/**
 * The hand-written check of the common telemetry message must never accept what the TypeBox
 * schema refuses: it is a fast path in front of it, not a second definition of the contract.
 */
import { describe, expect, it } from 'vitest'
import { checkTelemetry, decodeTelemetry, isPlainTelemetryV1 } from '../../domain/telemetry.ts'
import { rng } from '../../simulators/appliance.ts'

const NOW = Date.UTC(2026, 5, 1)
const valid = { v: 1, boot: 3, ts: NOW - 1000, seq: 9, metrics: { cabinet_temp_c: 4.5, door_open: 0 } }

const edgeCases: unknown[] = [
  valid,
  { ...valid, extra: 1 },
  { v: 1, boot: 3, ts: NOW, seq: 9 },
  { ...valid, boot: -1 }, { ...valid, boot: 2 ** 32 }, { ...valid, boot: 2 ** 32 - 1 }, { ...valid, boot: 1.5 }, { ...valid, boot: '3' },
  { ...valid, ts: -1 }, { ...valid, ts: 0 }, { ...valid, ts: 1.5 }, { ...valid, ts: null },
  { ...valid, seq: Number.MAX_SAFE_INTEGER }, { ...valid, seq: Number.MAX_SAFE_INTEGER + 2 }, { ...valid, seq: -0 },
  { ...valid, metrics: [] }, { ...valid, metrics: null }, { ...valid, metrics: {} }, { ...valid, metrics: { Bad: 1 } },
  { ...valid, metrics: { a: '1' } }, { ...valid, metrics: { a: Number.POSITIVE_INFINITY } }, { ...valid, metrics: { ['a'.repeat(64)]: 1 } },
  { ...valid, metrics: { ['a'.repeat(65)]: 1 } }, { ...valid, metrics: { '1a': 1 } }, { ...valid, metrics: { a_: 1, b9: 2 } },
  { ...valid, metrics: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`m${i}`, i])) },
  { ...valid, metrics: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`m${i}`, i])) },
  JSON.parse('{"v":1,"boot":3,"ts":5,"seq":9,"metrics":{"__proto__":1}}'),
  JSON.parse('{"v":1,"boot":3,"ts":5,"seq":9,"metrics":{"a":1},"__proto__":{}}'),
]

function mutated(rand: () => number): unknown {
  const o: Record<string, unknown> = { ...valid, metrics: { ...valid.metrics } }
  const junk: unknown[] = [null, -1, 0, 1.5, 2 ** 32, 2 ** 53, 'x', [], {}, true, Number.NaN]
  const keys = ['v', 'boot', 'ts', 'seq', 'metrics', 'x']
  for (let i = 0; i < 1 + Math.floor(rand() * 3); i++) {
    const k = keys[Math.floor(rand() * keys.length)] as string
    const r = rand()
    if (r < 0.3) delete o[k]
    else if (r < 0.6) o[k] = junk[Math.floor(rand() * junk.length)]
    else if (typeof o.metrics === 'object' && o.metrics !== null) (o.metrics as Record<string, unknown>)[['ok', 'Bad', '_x', 'y2'][Math.floor(rand() * 4)] as string] = junk[Math.floor(rand() * junk.length)]
  }
  return o
}

describe('telemetry fast path', () => {
  it('accepts only what the schema accepts, on edge cases and 20,000 mutations', () => {
    const rand = rng(8)
    const cases = [...edgeCases, ...Array.from({ length: 20_000 }, () => mutated(rand))]
    let fast = 0
    for (const c of cases) {
      if (!isPlainTelemetryV1(c as Record<string, unknown>)) continue
      fast++
      expect(checkTelemetry.Check(c), JSON.stringify(c)).toBe(true)
    }
    // The fast path is taken for the ordinary message, not just never.
    expect(isPlainTelemetryV1(valid)).toBe(true)
    expect(fast).toBeGreaterThan(100)
  })

  it('decodes the same readings and errors with or without the fast path', () => {
    const payload = (o: unknown): Buffer => Buffer.from(JSON.stringify(o))
    expect(decodeTelemetry('d1', payload(valid), NOW)).toEqual({
      ok: true, text: JSON.stringify(valid), readings: [{ deviceId: 'd1', boot: 3, seq: 9, ts: NOW - 1000, metrics: valid.metrics }],
    })
    const known = new Set(Object.keys(valid.metrics))
    expect(decodeTelemetry('d1', payload({ ...valid, metrics: { Bad: 1 } }), NOW, undefined, known)).toMatchObject({ ok: false, reason: 'unknown_metric' })
    expect(decodeTelemetry('d1', payload({ ...valid, extra: 1 }), NOW)).toMatchObject({ ok: false, reason: 'schema' })
    expect(decodeTelemetry('d1', payload({ ...valid, ts: NOW + 3_600_000 }), NOW)).toMatchObject({ ok: false, reason: 'future_timestamp' })
    expect(decodeTelemetry('d1', Buffer.from('{"v":1,"boot":3,"ts":5,"seq":9,"metrics":{"a":1e999}}'), NOW)).toMatchObject({ ok: false })
  })
})
