import { describe, expect, it } from 'vitest'
import { applianceTypes, catalogue } from '../../domain/index.ts'
import { createSimAppliance, planFleet, rng } from '../../simulators/appliance.ts'

const START = Date.UTC(2026, 0, 1)

describe('simulated appliance', () => {
  it.each(applianceTypes)('%s reports every catalogue metric, finite, one interval apart', (type) => {
    const a = createSimAppliance({ deviceId: 'x', type, seed: 7, startMs: START })
    const names = catalogue[type].metrics.map((m) => m.name).sort()
    let prev = START - a.intervalMs
    for (let i = 0; i < 3000; i++) {
      const r = a.next()
      expect(r.ts - prev).toBe(a.intervalMs)
      prev = r.ts
      expect(Object.keys(r.metrics).sort()).toEqual(names)
      for (const v of Object.values(r.metrics)) expect(Number.isFinite(v)).toBe(true)
    }
  })

  it('is reproducible from its seed', () => {
    const take = () => {
      const a = createSimAppliance({ deviceId: 'x', type: 'refrigerator', seed: 42, startMs: START })
      return Array.from({ length: 500 }, () => a.next())
    }
    expect(take()).toEqual(take())
  })

  it("follows the home's local time: the same local start gives the same day whatever the UTC offset", () => {
    const day = (startMs: number, utcOffsetMs: number) => {
      const a = createSimAppliance({ deviceId: 'w', type: 'washing_machine', seed: 5, startMs, utcOffsetMs })
      return Array.from({ length: 1440 }, () => a.next()).map((r) => r.metrics)
    }
    const threeHours = 3 * 3_600_000
    const utc = day(START, 0)
    // The washes are the routine: the day has some, and they move with the offset.
    expect(utc.filter((m) => m.drum_rpm! > 0).length).toBeGreaterThan(0)
    expect(day(START - threeHours, threeHours)).toEqual(utc)
    expect(day(START, threeHours)).not.toEqual(utc)
  })

  it('degrades the faulty component and reports the failure code once after functional failure', () => {
    const fault = { code: 'WM-DRAIN', component: 'drain_pump', onsetMs: START + 86_400_000, failureMs: START + 3 * 86_400_000 }
    const a = createSimAppliance({ deviceId: 'w', type: 'washing_machine', seed: 3, startMs: START, fault, disturbances: false })
    const codes: string[] = []
    for (let i = 0; i < 5 * 1440; i++) {
      a.next()
      codes.push(...a.drainFirmwareEvents().map((e) => e.code))
    }
    expect(codes).toEqual(['E21'])
  })

  it('marks readings a real device would not send (power cuts, dropouts)', () => {
    const a = createSimAppliance({ deviceId: 'x', type: 'refrigerator', seed: 5, startMs: START, horizonDays: 180 })
    let lost = 0
    for (let i = 0; i < 180 * 1440; i += 1) if (a.next().lost) lost++
    expect(lost).toBeGreaterThan(0)
    expect(lost).toBeLessThan(180 * 1440 * 0.05)
  })

  it('has no disturbances when asked for clean signals', () => {
    const a = createSimAppliance({ deviceId: 'x', type: 'refrigerator', seed: 5, startMs: START, disturbances: false })
    for (let i = 0; i < 30 * 1440; i++) expect(a.next().lost).toBeUndefined()
  })

  it('rng is deterministic and in [0, 1)', () => {
    const a = rng(1), b = rng(1)
    for (let i = 0; i < 1000; i++) {
      const x = a()
      expect(x).toBe(b())
      expect(x >= 0 && x < 1).toBe(true)
    }
  })
})

describe('planFleet', () => {
  it('plans the same fleet from the same seed, every type, and ground truth for every fault', () => {
    const o = { devices: 200, seed: 9, startMs: START, days: 90 }
    const p = planFleet(o)
    expect(planFleet(o)).toEqual(p)
    expect(p.members.length).toBe(200)
    expect(new Set(p.members.map((m) => m.deviceId)).size).toBe(200)
    expect(new Set(p.members.map((m) => m.type))).toEqual(new Set(applianceTypes))
    const faulty = p.members.filter((m) => m.fault)
    expect(p.truth.length).toBe(faulty.length)
    expect(faulty.length).toBeGreaterThan(30)
    expect(faulty.length).toBeLessThan(90)
    for (const t of p.truth) {
      const m = p.members.find((x) => x.deviceId === t.deviceId)!
      expect(catalogue[m.type].faults.some((f) => f.code === t.faultCode && f.component === t.component)).toBe(true)
      expect(t.onsetMs).toBeGreaterThanOrEqual(START + 4 * 86_400_000 - 1)
      expect(t.failureMs).toBeLessThanOrEqual(START + 90 * 86_400_000)
      expect(t.failureMs - t.onsetMs).toBeGreaterThanOrEqual(7 * 86_400_000 - 1)
    }
  })

  it('honours faultShare', () => {
    expect(planFleet({ devices: 50, seed: 1, startMs: START, days: 60, faultShare: 0 }).truth).toEqual([])
    expect(planFleet({ devices: 50, seed: 1, startMs: START, days: 60, faultShare: 1 }).truth.length).toBe(50)
  })
})
