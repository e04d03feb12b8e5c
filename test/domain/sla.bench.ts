/** Cost of a ticket's SLA clock (once per new ticket, join or escalation). Run: npx tsx test/domain/sla.bench.ts */
import { defaultSla, predictedClock, slaClockFor, type SlaTargets } from '../../domain/index.ts'

const N = 20_000
const t0 = Date.parse('2026-12-04T19:30:00Z')
const rul = { medianHours: 120, lowHours: 80, highHours: 200 }
const berlin: SlaTargets = { ...defaultSla, timeZone: 'Europe/Berlin' }

function measure(name: string, f: (i: number) => unknown): void {
  for (let i = 0; i < 2_000; i++) f(i)
  const start = performance.now()
  for (let i = 0; i < N; i++) f(i)
  console.log(`${name.padEnd(34)} ${((performance.now() - start) * 1000 / N).toFixed(1)} µs`)
}

// Detection times spread over ~7 months, so working days, weekends and DST changes all occur.
measure('predicted, P3, UTC', (i) => predictedClock(t0 + i * 977_000, 'P3', rul, defaultSla))
measure('predicted, P3, Europe/Berlin', (i) => predictedClock(t0 + i * 977_000, 'P3', rul, berlin))
measure('breakdown, P1', (i) => slaClockFor(t0 + i * 977_000, 'P1', { source: 'firmware', severity: 'critical', rul: null }, defaultSla))
