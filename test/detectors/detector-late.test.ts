import { describe, expect, it } from 'vitest'
import { createDetector } from '../../detectors/index.ts'
import type { DetectorEvent, Reading } from '../../domain/index.ts'
import { rng } from '../../simulators/appliance.ts'
import { DAY, HOUR, fault, sim } from './feed.ts'

const WINDOW = 12 * HOUR
// Water heater seed 8 with anode depletion from day 4 to day 26: warned, then escalated.
const anode = fault('WH-ANODE', 'anode', 4, 26)

/** Every reading the simulated water heater sends in `days`, in event-time order. */
function readings(days: number): Reading[] {
  const s = sim('wh', 'water_heater', 8, 0, anode)
  const out: Reading[] = []
  for (let i = 0; i < days * 1440; i++) {
    const r = s.next()
    if (!r.lost) out.push({ deviceId: 'wh', boot: r.boot, seq: i, ts: r.ts, metrics: r.metrics })
  }
  return out
}

function detect(input: readonly Reading[]): { events: DetectorEvent[]; det: ReturnType<typeof createDetector> } {
  const det = createDetector()
  det.ensureDevice('wh', 'water_heater')
  const events: DetectorEvent[] = []
  for (const r of input) events.push(...det.process(r))
  return { events, det }
}

/** Splits readings into their feature windows, applies `f` to each, and joins them again. */
function perWindow(rs: readonly Reading[], f: (w: Reading[]) => Reading[]): Reading[] {
  const windows = new Map<number, Reading[]>()
  for (const r of rs) {
    const w = Math.floor(r.ts / WINDOW)
    const list = windows.get(w) ?? []
    list.push(r)
    windows.set(w, list)
  }
  return [...windows.values()].flatMap(f)
}

/** Events with remaining-life figures rounded: sums in another order differ in the last bits. */
const same = (es: readonly DetectorEvent[]): unknown[] => es.map((e) => ({
  ...e, rul: e.rul && { lowHours: e.rul.lowHours.toFixed(6), medianHours: e.rul.medianHours.toFixed(6), highHours: e.rul.highHours.toFixed(6) },
}))

const ordered = readings(26)
const reference = detect(ordered).events

describe('late and out-of-order readings', () => {
  it('the ordered reference raises and escalates anode depletion', () => {
    expect(reference.map((e) => `${e.kind} ${e.episodeId}`)[0]).toBe('warning.raised wh:WH-ANODE:1')
    expect(reference.length).toBeGreaterThan(1)
  })

  it('readings shuffled within each window give the same warnings, and health says what was folded', () => {
    const rand = rng(42)
    const shuffled = perWindow(ordered, (w) => {
      const xs = [...w]
      for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1))
        ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
      }
      return xs
    })
    const { events, det } = detect(shuffled)
    expect(same(events)).toEqual(same(reference))
    const input = det.health('wh')!.input!
    expect(input.dropped).toBe(0)
    expect(input.lateFolded).toBeGreaterThan(ordered.length * 0.9)
    expect(input.reason).toMatch(/^\d+ late readings folded into their feature window; 0 left out/)
  })

  it('a batch uploaded after an outage, behind the live readings that followed it, gives the same warnings', () => {
    // Every day, the readings of 02:00–05:00 arrive after those of 05:00–06:00.
    const outage = perWindow(ordered, (w) => {
      const hour = (r: Reading): number => Math.floor((r.ts % DAY) / HOUR)
      const held = w.filter((r) => hour(r) >= 2 && hour(r) < 5)
      const at = w.findIndex((r) => hour(r) >= 6)
      if (held.length === 0 || at < 0) return w
      const rest = w.filter((r) => !held.includes(r))
      const cut = rest.findIndex((r) => hour(r) >= 6)
      return [...rest.slice(0, cut), ...held, ...rest.slice(cut)]
    })
    expect(outage).not.toEqual(ordered)
    const { events, det } = detect(outage)
    expect(same(events)).toEqual(same(reference))
    expect(det.health('wh')!.input!.lateFolded).toBeGreaterThan(20 * 170)
  })

  it('a redelivered stretch of the current window is recognised and not counted twice', () => {
    // After every 100 readings, the last 100 arrive again (a QoS 1 redelivery), newest first.
    const again: Reading[] = []
    for (let i = 0; i < ordered.length; i += 100) {
      const chunk = ordered.slice(i, i + 100)
      again.push(...chunk, ...[...chunk].reverse())
    }
    const { events, det } = detect(again)
    expect(events).toEqual(reference)
    expect(det.health('wh')!.input).toMatchObject({ lateFolded: 0, dropped: ordered.length })
  })

  it('drops and counts a reading older than the current window; an in-order stream reports nothing', () => {
    const { det } = detect(ordered.slice(0, 1440))
    expect(det.health('wh')!.input).toBeUndefined()
    expect(det.process(ordered[100]!)).toEqual([])
    expect(det.health('wh')!.input).toEqual({
      lateFolded: 0, dropped: 1,
      reason: '0 late readings folded into their feature window; 1 left out (older than the current window, repeated, or not foldable)',
    })
  })
})
