/** Order statistics for the bench: every figure is a median over runs, shown with its spread. */

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo)
}

export const median = (values: readonly number[]): number => quantile(values, 0.5)

export interface Figure {
  median: number
  min: number
  max: number
  runs: number
}

export function figure(values: readonly number[]): Figure {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length }
}

/** Three significant digits, thousands separated: what a table needs. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–'
  const abs = Math.abs(x)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
}

/**
 * Publish-to-warning latencies: each sampled fault's publish time (load clock) against the
 * warning's arrival (server clock), both shifted onto one clock by their offsets; faults whose
 * warning did not arrive are counted as missing.
 */
export function toWarningLatencies(events: readonly { deviceId: string; t: number }[], arrivals: ReadonlyMap<string, number>, offServer: number, offLoad: number): { latencies: number[]; missing: number } {
  const latencies: number[] = []
  let missing = 0
  for (const e of events) {
    const at = arrivals.get(e.deviceId)
    if (at === undefined) missing++
    else latencies.push(at - offServer - (e.t - offLoad))
  }
  return { latencies, missing }
}
