/**
 * The detector's public face. Pure: no IO, no clock of its own; time is the readings' event
 * time. Per device it folds readings into appliance-aware features (extractors.ts), tracks each
 * feature against a robust baseline learnt in a warm-up (tracker.ts), attributes deviations to
 * the catalogue's fault modes, estimates remaining useful life from the trend and keeps one
 * episode per fault code (episodes.ts).
 */
import type { ApplianceType, DetectorEvent, Evidence, HealthCore, Reading, RemainingLife, Severity } from '../domain/index.ts'
import { severityRank } from '../domain/index.ts'
import { USAGE_CYCLE, USAGE_DOOR } from './extractors.ts'
import { createEpisodeBook, episodeActive, episodeAlarm, episodeCalm, episodeHold, episodeId, rankSeverity, type EpisodeBook, type EpisodeTransition } from './episodes.ts'
import { typeModels, type FaultRef, type TypeModel } from './model.ts'
import {
  TRACKER_SLOTS, failureSpan, trackerAdd, trackerBaseline, trackerInit, trackerLevel, trackerProgress, trackerReady, trackerTrend, trackerZ,
} from './tracker.ts'

export interface DetectorConfig {
  /** Hours of event time a device is watched before its baseline is trusted. */
  warmupHours: number
  /** Length of a feature window for continuously running appliances. */
  windowHours: number
  /** Degradation progress (0 baseline … 1 failure limit) at which a warning is raised. */
  raiseProgress: number
  /** …and below which it counts as calm (hysteresis). */
  clearProgress: number
  /** Minimum robust deviation (baseline spreads) for a warning. */
  minDeviation: number
  /** Consecutive calm windows before a warning clears. */
  clearAfterWindows: number
  /** Silence longer than this many reporting intervals means offline (health with `nowMs`). */
  offlineAfterIntervals: number
}

export const defaultDetectorConfig: DetectorConfig = {
  warmupHours: 72,
  windowHours: 12,
  raiseProgress: 0.25,
  clearProgress: 0.1,
  minDeviation: 4,
  clearAfterWindows: 3,
  offlineAfterIntervals: 5,
}

export interface Detector {
  /** Adds a device (or restores it from `snapshot()` output). Idempotent. */
  ensureDevice(deviceId: string, type: ApplianceType, snapshot?: string): void
  hasDevice(deviceId: string): boolean
  removeDevice(deviceId: string): void
  /** Feeds one reading (event time may be late or out of order); returns what changed. */
  process(reading: Reading): DetectorEvent[]
  /** An error code the firmware published itself on `appliances/{id}/events`. */
  firmwareEvent(deviceId: string, code: string, eventTime: number, detail?: string): DetectorEvent[]
  /** With `nowMs`, a device silent for `offlineAfterIntervals` reporting intervals is `offline`. */
  health(deviceId: string, nowMs?: number): HealthCore | undefined
  /** Serialised state, enough to resume without a new warm-up. */
  /**
   * A repair of `component`: 'hold' quiets its warnings while the technician works, 'release'
   * ends the hold, 'reset' relearns its baseline after a part was replaced or repaired (and
   * clears its open episodes). Optional until every detector implements it.
   */
  repairAction?(deviceId: string, component: string, kind: 'hold' | 'release' | 'reset'): DetectorEvent[]
  snapshot(deviceId: string): string | undefined
}

// Scalars per device: last event time, current window index, running minutes, cycles, door openings, late readings.
const LAST = 0, WIN = 1, RUN = 2, CYC = 3, DOOR = 4, LATE = 5
const NUM_SLOTS = 6

/**
 * Per device: three typed arrays and nothing else (≈ 2 KiB with the map entry): the extractor
 * accumulator, the feature trackers followed by the device scalars, the episode book.
 */
interface DeviceState {
  id: string
  tm: TypeModel
  acc: Float64Array
  /** Trackers (features × TRACKER_SLOTS), then NUM_SLOTS scalars at `numAt`. */
  trk: Float64Array
  numAt: number
  book: EpisodeBook
}

const NONE: DetectorEvent[] = []
Object.freeze(NONE)

const HOUR_MS = 3_600_000

export function createDetector(config: Partial<DetectorConfig> = {}): Detector {
  const cfg: DetectorConfig = { ...defaultDetectorConfig, ...config }
  const windowMs = cfg.windowHours * HOUR_MS
  const devices = new Map<string, DeviceState>()
  // Feature values of the window being closed: consumed at once, so one scratch serves all devices.
  const out = new Float64Array(8)

  function fresh(deviceId: string, type: ApplianceType): DeviceState {
    const tm = typeModels[type]
    const nf = tm.ext.features.length
    const numAt = nf * TRACKER_SLOTS
    const trk = new Float64Array(numAt + NUM_SLOTS)
    // Cycle features (a wash) count cycles, not windows, toward the warm-up.
    const cycles = tm.ext.mode === 'cycle'
    const warm = cycles ? 7 : cfg.warmupHours / cfg.windowHours
    for (let f = 0; f < nf; f++) trackerInit(trk, f * TRACKER_SLOTS, warm, cycles ? 5 : 3)
    trk[numAt + LAST] = -Infinity
    trk[numAt + WIN] = -1
    return { id: deviceId, tm, acc: new Float64Array(tm.ext.accSlots), trk, numAt, book: createEpisodeBook(tm.codes.length) }
  }

  function progressOf(d: DeviceState, f: FaultRef): { minP: number; minZ: number; ready: boolean } {
    let minP = Infinity
    let minZ = Infinity
    for (const s of f.symptoms) {
      const o = s.feature * TRACKER_SLOTS
      if (!trackerReady(d.trk, o) || !Number.isFinite(trackerLevel(d.trk, o))) return { minP: 0, minZ: 0, ready: false }
      minP = Math.min(minP, trackerProgress(d.trk, o, s.limit))
      minZ = Math.min(minZ, trackerZ(d.trk, o, s.limit))
    }
    return f.symptoms.length === 0 ? { minP: 0, minZ: 0, ready: false } : { minP, minZ, ready: true }
  }

  function moreSpecificPending(d: DeviceState, f: FaultRef): boolean {
    for (const g of d.tm.faults) {
      if (g === f || g.symptoms.length <= f.symptoms.length) continue
      if (!f.symptoms.every((s) => g.symptoms.some((t) => t.feature === s.feature))) continue
      let others = Infinity
      for (const t of g.symptoms) {
        if (f.symptoms.some((s) => s.feature === t.feature)) continue
        const o = t.feature * TRACKER_SLOTS
        others = Math.min(others, trackerReady(d.trk, o) ? trackerProgress(d.trk, o, t.limit) : 0)
      }
      if (others >= cfg.raiseProgress / 2) return true
    }
    return false
  }

  /** Remaining life from the trend of the fault's most advanced symptom. */
  function remainingLife(d: DeviceState, f: FaultRef): RemainingLife | null {
    let best: RemainingLife | null = null
    let bestP = -Infinity
    for (const s of f.symptoms) {
      const fit = trackerTrend(d.trk, s.feature * TRACKER_SLOTS, s.limit)
      if (!fit || fit.progressNow <= bestP) continue
      bestP = fit.progressNow
      if (!Number.isFinite(fit.hoursToLimit)) { best = null; continue }
      const med = fit.hoursToLimit
      best = {
        medianHours: med,
        lowHours: Math.min(med, fit.hoursFast),
        highHours: Number.isFinite(fit.hoursSlow) ? Math.max(med, fit.hoursSlow) : med * 3,
      }
    }
    return best
  }

  function severityFor(rul: RemainingLife | null, progress: number): Severity {
    if (rul) return rul.medianHours <= 72 ? 'critical' : rul.medianHours <= 240 ? 'warning' : 'watch'
    return progress >= 0.75 ? 'critical' : progress >= 0.45 ? 'warning' : 'watch'
  }

  function evidence(d: DeviceState, f: FaultRef): Evidence[] {
    return f.symptoms.map((s) => {
      const o = s.feature * TRACKER_SLOTS
      const fit = trackerTrend(d.trk, o, s.limit)
      const span = failureSpan(d.trk, o, s.limit) * (s.limit.direction === 'up' ? 1 : -1)
      const value = trackerLevel(d.trk, o)
      const base = trackerBaseline(d.trk, o)
      return {
        feature: s.name, value: round(value), baseline: round(base), deviation: round(trackerZ(d.trk, o, s.limit)),
        slopePerDay: fit ? round(fit.slopePerHour * 24 * span) : null,
        detail: `${s.name} ${s.limit.direction === 'up' ? 'rose' : 'fell'} from ${round(base)} to ${round(value)}: ${Math.round(trackerProgress(d.trk, o, s.limit) * 100)} % of the way to the failure limit`,
      }
    })
  }

  function message(d: DeviceState, f: FaultRef, rul: RemainingLife | null): string {
    const comp = (d.tm.componentNames.get(f.fault.component) ?? f.fault.component).toLowerCase()
    const when = rul ? `failure limit expected in ${span(rul.lowHours)}–${span(rul.highHours)}` : 'degrading, no trend yet'
    return `${f.fault.name}: ${comp} ${when}`
  }

  function emit(d: DeviceState, f: FaultRef, kind: EpisodeTransition, sev: Severity, ts: number, rul: RemainingLife | null, events: DetectorEvent[]): DetectorEvent[] {
    if (kind === null) return events
    const out = events === NONE ? [] : events
    out.push({
      kind: kind === 'raised' ? 'warning.raised' : kind === 'escalated' ? 'warning.escalated' : 'warning.cleared',
      deviceId: d.id, episodeId: episodeId(d.id, f.code, d.book, f.index), faultCode: f.code, component: f.fault.component,
      severity: sev, eventTime: ts, message: kind === 'cleared' ? `${f.fault.name}: back within normal limits` : message(d, f, rul),
      evidence: evidence(d, f), rul: kind === 'cleared' ? null : rul, source: 'detector',
    })
    return out
  }

  /** A feature window (or cycle) closed: update trackers, then episodes. Runs a few times a day. */
  function evaluate(d: DeviceState, ts: number): DetectorEvent[] {
    const nf = d.tm.ext.features.length
    for (let f = 0; f < nf; f++) trackerAdd(d.trk, f * TRACKER_SLOTS, out[f]!, ts / HOUR_MS)
    let events = NONE
    let best: FaultRef | null = null
    let bestP = 0
    // One detector episode per device at a time: a second fault showing up while one is open
    // is far more likely to be the same fault spreading to other signals than a coincidence.
    let busy = false
    for (const f of d.tm.faults) if (episodeActive(d.book, f.index) > 0) busy = true
    for (const f of d.tm.faults) {
      const { minP, minZ, ready } = progressOf(d, f)
      if (!ready) continue
      const active = episodeActive(d.book, f.index) > 0
      if (active) {
        if (minP < cfg.clearProgress) events = emit(d, f, episodeCalm(d.book, f.index, cfg.clearAfterWindows), 'watch', ts, null, events)
        else {
          episodeHold(d.book, f.index)
          const rul = remainingLife(d, f)
          const sev = severityFor(rul, minP)
          if (severityRank[sev] > episodeActive(d.book, f.index)) events = emit(d, f, episodeAlarm(d.book, f.index, sev), sev, ts, rul, events)
        }
        continue
      }
      if (minP < cfg.raiseProgress || minZ < cfg.minDeviation) continue
      if (busy) continue
      // Wait while a more specific fault (a superset of these symptoms) is half-way there: its
      // remaining symptoms will tell the two apart within a few windows.
      if (moreSpecificPending(d, f)) continue
      // The most specific explanation wins: more matching symptoms, then the larger progress.
      if (!best || f.symptoms.length > best.symptoms.length || (f.symptoms.length === best.symptoms.length && minP > bestP)) {
        best = f
        bestP = minP
      }
    }
    if (best) {
      const rul = remainingLife(d, best)
      const sev = severityFor(rul, bestP)
      events = emit(d, best, episodeAlarm(d.book, best.index, sev), sev, ts, rul, events)
    }
    return events
  }

  return {
    ensureDevice(deviceId, type, snapshot) {
      if (devices.has(deviceId)) return
      const d = fresh(deviceId, type)
      if (snapshot) restore(d, snapshot)
      devices.set(deviceId, d)
    },
    hasDevice: (id) => devices.has(id),
    removeDevice: (id) => void devices.delete(id),

    process(reading) {
      const d = devices.get(reading.deviceId)
      if (!d) return NONE
      const num = d.trk
      const n0 = d.numAt
      const ts = reading.ts
      // Features difference consecutive readings, so a late or duplicate reading is counted, not folded.
      if (!(ts > num[n0 + LAST]!)) {
        num[n0 + LATE]! += 1
        return NONE
      }
      const ext = d.tm.ext
      const dtMin = num[n0 + LAST] === -Infinity ? d.tm.intervalMs / 60_000 : (ts - num[n0 + LAST]!) / 60_000
      const gap = dtMin > Math.max(10, (3 * d.tm.intervalMs) / 60_000)
      let events = NONE
      if (ext.mode === 'time') {
        const w = Math.floor(ts / windowMs)
        if (w !== num[n0 + WIN]) {
          if (num[n0 + WIN]! >= 0) {
            ext.finish(d.acc, out)
            events = evaluate(d, (num[n0 + WIN]! + 1) * windowMs)
          }
          num[n0 + WIN] = w
        }
      }
      const u = ext.usage(d.acc, reading.metrics)
      const runMin = u % USAGE_CYCLE
      num[n0 + RUN]! += runMin > 0 ? Math.min(dtMin, 5) : 0
      if (u >= USAGE_DOOR) num[n0 + DOOR]! += 1
      if (u % USAGE_DOOR >= USAGE_CYCLE) num[n0 + CYC]! += 1
      if (ext.add(d.acc, reading.metrics, dtMin, gap, out)) events = evaluate(d, ts)
      num[n0 + LAST] = ts
      return events
    },

    firmwareEvent(deviceId, code, eventTime, detail) {
      const d = devices.get(deviceId)
      if (!d) return NONE
      const hit = d.tm.firmware.get(code)
      if (!hit) return NONE
      const kind = episodeAlarm(d.book, hit.index, hit.fw.severity)
      if (kind === null) return NONE
      return [{
        kind: kind === 'raised' ? 'warning.raised' : 'warning.escalated', deviceId, episodeId: episodeId(deviceId, code, d.book, hit.index),
        faultCode: code, component: hit.fw.component, severity: hit.fw.severity, eventTime,
        message: detail ? `${hit.fw.meaning} (${detail})` : hit.fw.meaning, evidence: [], rul: null, source: 'firmware',
      }]
    },

    health(deviceId, nowMs) {
      const d = devices.get(deviceId)
      if (!d) return undefined
      const components: HealthCore['components'] = {}
      for (const [id] of d.tm.componentNames) components[id] = { score: 100, reason: 'no anomaly seen' }
      let warmingUp = false
      for (const f of d.tm.faults) {
        const { minP, ready } = progressOf(d, f)
        if (!ready) { warmingUp = true; continue }
        const score = Math.round(100 * (1 - Math.min(1, Math.max(0, minP))))
        const c = components[f.fault.component]
        if (c && score < c.score) components[f.fault.component] = { score, reason: `${f.fault.name}: ${Math.round(minP * 100)} % of the way to the failure limit` }
      }
      let worst = 0
      for (let i = 0; i < d.tm.codes.length; i++) {
        const r = episodeActive(d.book, i)
        worst = Math.max(worst, r)
        const fw = i >= d.tm.faults.length ? d.tm.firmware.get(d.tm.codes[i]!) : undefined
        const c = fw ? components[fw.fw.component] : undefined
        if (fw && c && r > 0) components[fw.fw.component] = { score: Math.min(c.score, r === 3 ? 10 : 40), reason: `firmware ${fw.fw.code}: ${fw.fw.meaning}` }
      }
      const overall = Math.min(...Object.values(components).map((c) => c.score))
      const last = d.trk[d.numAt + LAST] === -Infinity ? null : d.trk[d.numAt + LAST]!
      const silent = nowMs !== undefined && (last === null || nowMs - last > cfg.offlineAfterIntervals * d.tm.intervalMs)
      const status = silent ? 'offline' : (rankSeverity[worst] ?? (overall < 80 ? 'watch' : 'healthy'))
      return {
        overall, status, components, lastEventTime: last, warmingUp,
        usage: { runningHours: round(d.trk[d.numAt + RUN]! / 60), cycles: d.trk[d.numAt + CYC]!, doorOpenings: d.trk[d.numAt + DOOR]! },
      }
    },

    snapshot(deviceId) {
      const d = devices.get(deviceId)
      if (!d) return undefined
      return JSON.stringify({
        v: 2, type: d.tm.type, acc: arr(d.acc), trk: arr(d.trk),
        book: Array.from(d.book.slots),
      })
    },
  }
}

/** Typed array → JSON-safe array (NaN and ±Infinity become strings). */
function arr(a: Float64Array): (number | string)[] {
  return Array.from(a, (x) => (Number.isFinite(x) ? x : String(x)))
}

function fill(target: Float64Array | Uint32Array, src: unknown): void {
  if (!Array.isArray(src) || src.length !== target.length) return
  for (let i = 0; i < src.length; i++) target[i] = typeof src[i] === 'number' ? src[i] : Number(src[i])
}

/** A snapshot of another layout (older version, other type) is ignored: the device warms up anew. */
function restore(d: DeviceState, snapshot: string): void {
  let s: Record<string, unknown>
  try {
    s = JSON.parse(snapshot) as Record<string, unknown>
  } catch {
    return
  }
  if (s.v !== 2 || s.type !== d.tm.type) {
    // Placeholder-era snapshots carried only episode counters: keep those so ids never repeat.
    const ep = s.episodes as Record<string, number> | undefined
    if (ep) d.tm.codes.forEach((c, i) => { if (typeof ep[c] === 'number') d.book.slots[i] = ep[c] })
    return
  }
  fill(d.acc, s.acc)
  fill(d.trk, s.trk)
  fill(d.book.slots, s.book)
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

function span(hours: number): string {
  return hours < 48 ? `${Math.max(1, Math.round(hours))} h` : `${Math.round(hours / 24)} days`
}
