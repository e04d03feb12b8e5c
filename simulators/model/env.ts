/**
 * What a home does to an appliance that is not a fault: weather (daily cycle, seasonal drift,
 * heat waves), power cuts, firmware restarts, and sensor trouble (spikes, stuck values,
 * dropouts). Pure and seeded: the same seed gives the same home.
 */
export type Rand = () => number

/** Small, fast, seedable PRNG (mulberry32) so a fleet is reproducible from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000

export interface Span {
  startMs: number
  endMs: number
  /** Free parameter of the disturbance (degrees of a heat wave, the new set-point, …). */
  value: number
}

export interface HomeSchedule {
  heatWaves: Span[]
  powerCuts: Span[]
  firmwareRestarts: number[]
  stuck: Span[]
  dropouts: Span[]
  /** Phase of the seasonal cycle, so fleets do not all share one calendar. */
  seasonPhase: number
  /** The home's offset from UTC: its daily routine (washing, showers, cooling) follows local time. */
  utcOffsetMs: number
}

function spans(rand: Rand, startMs: number, days: number, perYear: number, minMs: number, maxMs: number, value: () => number): Span[] {
  const out: Span[] = []
  const n = Math.floor((perYear * days) / 365 + rand())
  for (let i = 0; i < n; i++) {
    const s = startMs + rand() * days * DAY_MS
    out.push({ startMs: s, endMs: s + minMs + rand() * (maxMs - minMs), value: value() })
  }
  return out.sort((a, b) => a.startMs - b.startMs)
}

/** Plans a home's benign disturbances over `days` (the horizon; later times see none). */
export function planHome(rand: Rand, startMs: number, days: number, utcOffsetMs = 0): HomeSchedule {
  return {
    heatWaves: spans(rand, startMs, days, 3, 3 * DAY_MS, 8 * DAY_MS, () => 5 + rand() * 6),
    powerCuts: spans(rand, startMs, days, 4, HOUR_MS, 8 * HOUR_MS, () => 0),
    firmwareRestarts: spans(rand, startMs, days, 6, 0, 0, () => 0).map((s) => s.startMs),
    stuck: spans(rand, startMs, days, 6, 2 * HOUR_MS, 12 * HOUR_MS, () => Math.floor(rand() * 1000)),
    dropouts: spans(rand, startMs, days, 12, 10 * 60_000, 3 * HOUR_MS, () => 0),
    seasonPhase: rand() * 2 * Math.PI,
    utcOffsetMs,
  }
}

export function inSpan(list: readonly Span[], ts: number): Span | undefined {
  for (const s of list) {
    if (ts < s.startMs) return undefined
    if (ts < s.endMs) return s
  }
  return undefined
}

/** Outdoor-ish temperature: season (±amplitude over a year), day/night, heat waves. */
export function weather(h: HomeSchedule, ts: number, mean: number, seasonAmp: number, dayAmp: number): number {
  const season = Math.sin((2 * Math.PI * ts) / (365 * DAY_MS) + h.seasonPhase) * seasonAmp
  const hour = hourOfDay(h, ts)
  const daily = Math.sin(((hour - 9) / 24) * 2 * Math.PI) * dayAmp
  const wave = inSpan(h.heatWaves, ts)?.value ?? 0
  return mean + season + daily + wave
}

/** The home's local hour of day, 0 ≤ h < 24. */
export function hourOfDay(h: HomeSchedule, ts: number): number {
  const local = (ts + h.utcOffsetMs) % DAY_MS
  return (local < 0 ? local + DAY_MS : local) / HOUR_MS
}

/** Standard normal draw (Box–Muller), for sensor noise. */
export function gauss(rand: Rand): number {
  const u = 1 - rand()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand())
}

/**
 * Degradation of an injected fault: 0 before onset, 1 at functional failure, growing as
 * u^shape in between (shape > 1: slow start, faster near the end, as wear usually goes).
 */
export function faultSeverity(ts: number, onsetMs: number, failureMs: number, shape: number): number {
  if (ts <= onsetMs) return 0
  const u = (ts - onsetMs) / (failureMs - onsetMs)
  return u >= 1 ? Math.min(1.15, 1 + (u - 1) * 0.5) : u ** shape
}
