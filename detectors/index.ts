/**
 * The detector's public face. Pure: no IO, no clock of its own; time is the readings' event
 * time. Per device it folds readings into appliance-aware features (extractors.ts), tracks each
 * feature against a robust baseline learnt in a warm-up (tracker.ts), attributes deviations to
 * the catalogue's fault modes, estimates remaining useful life from the trend and keeps one
 * episode per fault code (episodes.ts).
 */
import type { ApplianceType, DetectorEvent, Evidence, FirmwareCode, HealthCore, Reading, RemainingLife, Severity } from '../domain/index.ts'
import { severityRank } from '../domain/index.ts'
import { evidenceWords, remainingLifeWords } from '../domain/words.ts'
import { USAGE_CYCLE, USAGE_DOOR } from './extractors.ts'
import {
  createEpisodeBook, episodeActive, episodeAlarm, episodeCalm, episodeClear, episodeHold, episodeId, rankSeverity, type EpisodeBook, type EpisodeTransition,
} from './episodes.ts'
import { typeModel, type FaultRef, type TypeModel } from './model.ts'
import {
  TRACKER_SLOTS, failureSpan, trackerAdd, trackerBaseline, trackerInit, trackerLevel, trackerProgress, trackerReady, trackerRelearn, trackerTrend, trackerZ,
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
  /** A firmware code's episode clears after this many hours of event time without the code. */
  firmwareClearHours: number
}

export const defaultDetectorConfig: DetectorConfig = {
  warmupHours: 72,
  windowHours: 12,
  raiseProgress: 0.25,
  clearProgress: 0.1,
  minDeviation: 4,
  clearAfterWindows: 3,
  offlineAfterIntervals: 5,
  firmwareClearHours: 24,
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

// Scalars per device: last event time, current window index, running minutes, cycles, door openings,
// readings dropped (too late, repeated), the hold mask (one bit per component under repair), the
// earliest event time a firmware episode may clear, late readings folded into the current window.
// Then one slot per firmware code (event time it was last seen), then the current window's
// seen-bitmap (time windows), which tells a late reading from a repeated one.
const LAST = 0, WIN = 1, RUN = 2, CYC = 3, DOOR = 4, LATE = 5, HOLD = 6, FW_DUE = 7, FOLDED = 8
const NUM_SLOTS = 9
/** Snapshot v2 ended after LATE; what follows starts fresh on restore. */
const V2_SLOTS = 6
/** The seen-bitmap's resolution: one bit per reporting interval, at most this many per window. */
const SEEN_MAX_BITS = 2048

/**
 * Per device: three typed arrays and nothing else (≈ 2 KiB with the map entry): the extractor
 * accumulator, the feature trackers followed by the device scalars, the episode book.
 */
interface DeviceState {
  id: string
  tm: TypeModel
  acc: Float64Array
  /** Trackers (features × TRACKER_SLOTS), then NUM_SLOTS scalars at `numAt`, firmware times at `fwAt`, the seen-bitmap at `seenAt`. */
  trk: Float64Array
  numAt: number
  fwAt: number
  seenAt: number
  /** Event time each bit of the seen-bitmap covers (0: no bitmap, cycle windows). */
  bucketMs: number
  book: EpisodeBook
}

const NONE: DetectorEvent[] = []
Object.freeze(NONE)

const HOUR_MS = 3_600_000

export function createDetector(config: Partial<DetectorConfig> = {}): Detector {
  const cfg: DetectorConfig = { ...defaultDetectorConfig, ...config }
  const windowMs = cfg.windowHours * HOUR_MS
  const clearMs = cfg.firmwareClearHours * HOUR_MS
  const devices = new Map<string, DeviceState>()
  // Feature values of the window being closed: consumed at once, so one scratch serves all devices.
  const out = new Float64Array(8)

  function fresh(deviceId: string, type: ApplianceType): DeviceState {
    const tm = typeModel(type)
    const nf = tm.ext.features.length
    const numAt = nf * TRACKER_SLOTS
    const fwAt = numAt + NUM_SLOTS
    const seenAt = fwAt + tm.firmware.size
    const bits = tm.ext.mode === 'time' ? Math.min(SEEN_MAX_BITS, Math.ceil(windowMs / tm.intervalMs)) : 0
    const trk = new Float64Array(seenAt + Math.ceil(bits / 32))
    // Cycle features (a wash) count cycles, not windows, toward the warm-up.
    const cycles = tm.ext.mode === 'cycle'
    const warm = cycles ? 7 : cfg.warmupHours / cfg.windowHours
    for (let f = 0; f < nf; f++) trackerInit(trk, f * TRACKER_SLOTS, warm, cycles ? 5 : 3)
    trk[numAt + LAST] = -Infinity
    trk[numAt + WIN] = -1
    trk[numAt + FW_DUE] = Infinity
    trk.fill(-Infinity, fwAt, seenAt)
    return {
      id: deviceId, tm, acc: new Float64Array(tm.ext.accSlots), trk, numAt, fwAt, seenAt,
      bucketMs: bits > 0 ? windowMs / bits : 0, book: createEpisodeBook(tm.codes.length),
    }
  }

  /** True when the component of episode code `i` is on hold for a repair. */
  function held(d: DeviceState, i: number): boolean {
    const mask = d.trk[d.numAt + HOLD]!
    return mask !== 0 && ((mask >>> d.tm.codeBit[i]!) & 1) === 1
  }

  /** Marks `ts` (in window `w`) in the seen-bitmap; false when that slot was already seen. */
  function markSeen(d: DeviceState, ts: number, w: number): boolean {
    const b = Math.floor((ts - w * windowMs) / d.bucketMs)
    const at = d.seenAt + (b >>> 5)
    const word = d.trk[at]! >>> 0
    const bit = 1 << (b & 31)
    if ((word & bit) !== 0) return false
    d.trk[at] = (word | bit) >>> 0
    return true
  }

  /**
   * A reading older than the newest one seen. Within the current window and not seen before, it
   * is folded into the window's order-free sums; otherwise (an older window, a repeat, a type
   * without such sums, cycle windows) it is counted and left out. It never closes a window.
   */
  function late(d: DeviceState, r: Reading): DetectorEvent[] {
    const num = d.trk
    const n0 = d.numAt
    const ext = d.tm.ext
    const w = Math.floor(r.ts / windowMs)
    if (ext.late === undefined || d.bucketMs === 0 || w !== num[n0 + WIN] || !markSeen(d, r.ts, w)) {
      num[n0 + LATE]! += 1
      return NONE
    }
    ext.late(d.acc, r.metrics, d.tm.intervalMs / 60_000)
    num[n0 + FOLDED]! += 1
    return NONE
  }

  function firmwareEventOf(d: DeviceState, kind: DetectorEvent['kind'], i: number, fw: FirmwareCode, severity: Severity, eventTime: number, message: string): DetectorEvent {
    return {
      kind, deviceId: d.id, episodeId: episodeId(d.id, fw.code, d.book, i), faultCode: fw.code, component: fw.component,
      severity, eventTime, message, evidence: [], rul: null, source: 'firmware',
    }
  }

  /** Clears the firmware episodes whose code has been quiet for `firmwareClearHours` by `ts`. */
  function firmwareQuiet(d: DeviceState, ts: number, events: DetectorEvent[]): DetectorEvent[] {
    let due = Infinity
    for (const { index, fw } of d.tm.firmware.values()) {
      const r = episodeActive(d.book, index)
      if (r === 0) continue
      const quietAt = d.trk[d.fwAt + index - d.tm.faults.length]! + clearMs
      if (ts < quietAt) { due = Math.min(due, quietAt); continue }
      const out = events === NONE ? [] : events
      out.push(firmwareEventOf(d, 'warning.cleared', index, fw, rankSeverity[r]!, ts, `${fw.meaning}: not reported for ${cfg.firmwareClearHours} h`))
      episodeClear(d.book, index)
      events = out
    }
    d.trk[d.numAt + FW_DUE] = due
    return events
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
      const e: Evidence = {
        feature: s.name, value: round(value), baseline: round(base), deviation: round(trackerZ(d.trk, o, s.limit)),
        slopePerDay: fit ? round(fit.slopePerHour * 24 * span) : null, detail: '',
      }
      e.detail = `${evidenceWords(d.tm.type, e)}: ${Math.round(trackerProgress(d.trk, o, s.limit) * 100)} % of the way to the failure limit`
      return e
    })
  }

  function message(d: DeviceState, f: FaultRef, rul: RemainingLife | null): string {
    const comp = (d.tm.componentNames.get(f.fault.component) ?? f.fault.component).toLowerCase()
    const when = rul ? `failure limit expected ${remainingLifeWords(rul)}` : 'degrading, no trend yet'
    return `${f.fault.name}: ${comp} ${when}`
  }

  function emit(d: DeviceState, f: FaultRef, kind: EpisodeTransition, sev: Severity, ts: number, rul: RemainingLife | null, events: DetectorEvent[], note?: string): DetectorEvent[] {
    if (kind === null) return events
    const out = events === NONE ? [] : events
    out.push({
      kind: kind === 'raised' ? 'warning.raised' : kind === 'escalated' ? 'warning.escalated' : 'warning.cleared',
      deviceId: d.id, episodeId: episodeId(d.id, f.code, d.book, f.index), faultCode: f.code, component: f.fault.component,
      severity: sev, eventTime: ts, message: note ?? (kind === 'cleared' ? `${f.fault.name}: back within normal limits` : message(d, f, rul)),
      evidence: evidence(d, f), rul: kind === 'cleared' ? null : rul, source: 'detector',
    })
    return out
  }

  /** A feature window (or cycle) closed: update trackers, then episodes. Runs a few times a day. */
  function evaluate(d: DeviceState, ts: number, events: DetectorEvent[]): DetectorEvent[] {
    const nf = d.tm.ext.features.length
    for (let f = 0; f < nf; f++) trackerAdd(d.trk, f * TRACKER_SLOTS, out[f]!, ts / HOUR_MS)
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
          // A component under repair neither raises nor escalates.
          if (held(d, f.index)) continue
          const rul = remainingLife(d, f)
          const sev = severityFor(rul, minP)
          if (severityRank[sev] > episodeActive(d.book, f.index)) events = emit(d, f, episodeAlarm(d.book, f.index, sev), sev, ts, rul, events)
        }
        continue
      }
      if (minP < cfg.raiseProgress || minZ < cfg.minDeviation) continue
      if (busy || held(d, f.index)) continue
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
      // Features difference consecutive readings: only a reading newer than all before takes that path.
      if (!(ts > num[n0 + LAST]!)) return late(d, reading)
      const ext = d.tm.ext
      const intervalMin = d.tm.intervalMs / 60_000
      const dtMin = num[n0 + LAST] === -Infinity ? intervalMin : (ts - num[n0 + LAST]!) / 60_000
      const gap = dtMin > Math.max(10, 3 * intervalMin)
      let events = NONE
      if (ts >= num[n0 + FW_DUE]!) events = firmwareQuiet(d, ts, events)
      if (ext.mode === 'time') {
        const w = Math.floor(ts / windowMs)
        if (w !== num[n0 + WIN]) {
          if (num[n0 + WIN]! >= 0) {
            ext.finish(d.acc, out)
            events = evaluate(d, (num[n0 + WIN]! + 1) * windowMs, events)
          }
          num[n0 + WIN] = w
          num.fill(0, d.seenAt, num.length)
        }
        markSeen(d, ts, w)
      }
      const u = ext.usage(d.acc, reading.metrics)
      const runMin = u % USAGE_CYCLE
      num[n0 + RUN]! += runMin > 0 ? Math.min(dtMin, 5) : 0
      if (u >= USAGE_DOOR) num[n0 + DOOR]! += 1
      if (u % USAGE_DOOR >= USAGE_CYCLE) num[n0 + CYC]! += 1
      if (ext.add(d.acc, reading.metrics, dtMin, gap, out, Math.min(dtMin, intervalMin))) events = evaluate(d, ts, events)
      num[n0 + LAST] = ts
      return events
    },

    firmwareEvent(deviceId, code, eventTime, detail) {
      const d = devices.get(deviceId)
      if (!d) return NONE
      const hit = d.tm.firmware.get(code)
      if (!hit || !Number.isFinite(eventTime)) return NONE
      const { index, fw } = hit
      const seenAt = d.fwAt + index - d.tm.faults.length
      // A repeat of the code (a redelivery, or one reported out of order) is no news.
      if (!(eventTime > d.trk[seenAt]!)) return NONE
      let events = NONE
      const r = episodeActive(d.book, index)
      if (r > 0 && eventTime - d.trk[seenAt]! >= clearMs) {
        // Quiet long enough though no reading came in between to say so: the old episode ends first.
        events = [firmwareEventOf(d, 'warning.cleared', index, fw, rankSeverity[r]!, eventTime, `${fw.meaning}: not reported for ${cfg.firmwareClearHours} h`)]
        episodeClear(d.book, index)
      }
      d.trk[seenAt] = eventTime
      if (held(d, index)) return events
      const kind = episodeAlarm(d.book, index, fw.severity)
      if (kind === null) return events
      if (kind === 'raised') d.trk[d.numAt + FW_DUE] = Math.min(d.trk[d.numAt + FW_DUE]!, eventTime + clearMs)
      const out = events === NONE ? [] : events
      out.push(firmwareEventOf(d, kind === 'raised' ? 'warning.raised' : 'warning.escalated', index, fw, fw.severity, eventTime, detail ? `${fw.meaning} (${detail})` : fw.meaning))
      return out
    },

    repairAction(deviceId, component, kind) {
      const d = devices.get(deviceId)
      const c = d?.tm.components.get(component)
      if (!d || !c) return NONE
      const at = d.numAt + HOLD
      if (kind === 'hold') { d.trk[at] = (d.trk[at]! | (1 << c.bit)) >>> 0; return NONE }
      if (kind === 'release') { d.trk[at] = (d.trk[at]! & ~(1 << c.bit)) >>> 0; return NONE }
      // Reset: the component's open episodes end now (the event time of the newest reading), and
      // its features learn the new part's normal from the next readings.
      const last = d.trk[d.numAt + LAST]!
      const ts = Number.isFinite(last) ? last : 0
      let events = NONE
      for (const i of c.codes) {
        const r = episodeActive(d.book, i)
        if (r === 0) continue
        const sev = rankSeverity[r]!
        if (i < d.tm.faults.length) {
          const f = d.tm.faults[i]!
          events = emit(d, f, 'cleared', sev, ts, null, events, `${f.fault.name}: cleared by a repair`)
        } else {
          const fw = d.tm.firmware.get(d.tm.codes[i]!)!.fw
          const out = events === NONE ? [] : events
          out.push(firmwareEventOf(d, 'warning.cleared', i, fw, sev, ts, `${fw.meaning}: cleared by a repair`))
          events = out
        }
        episodeClear(d.book, i)
      }
      for (const f of c.features) trackerRelearn(d.trk, f * TRACKER_SLOTS, 1)
      return events
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
      const mask = d.trk[d.numAt + HOLD]!
      if (mask !== 0) {
        for (const [id, c] of d.tm.components) {
          const h = components[id]
          if (h && ((mask >>> c.bit) & 1) === 1) h.reason += ' (repair in progress: warnings held)'
        }
      }
      const overall = Math.min(...Object.values(components).map((c) => c.score))
      const last = d.trk[d.numAt + LAST] === -Infinity ? null : d.trk[d.numAt + LAST]!
      const silent = nowMs !== undefined && (last === null || nowMs - last > cfg.offlineAfterIntervals * d.tm.intervalMs)
      const status = silent ? 'offline' : (rankSeverity[worst] ?? (overall < 80 ? 'watch' : 'healthy'))
      const core: HealthCore = {
        overall, status, components, lastEventTime: last, warmingUp,
        usage: { runningHours: round(d.trk[d.numAt + RUN]! / 60), cycles: d.trk[d.numAt + CYC]!, doorOpenings: d.trk[d.numAt + DOOR]! },
      }
      const folded = d.trk[d.numAt + FOLDED]!, dropped = d.trk[d.numAt + LATE]!
      if (folded > 0 || dropped > 0) {
        core.input = {
          lateFolded: folded, dropped,
          reason: `${folded} late readings folded into their feature window; ${dropped} left out (older than the current window, repeated, or not foldable)`,
        }
      }
      return core
    },

    snapshot(deviceId) {
      const d = devices.get(deviceId)
      if (!d) return undefined
      return JSON.stringify({
        v: 3, type: d.tm.type, acc: arr(d.acc), trk: arr(d.trk),
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
  if ((s.v !== 2 && s.v !== 3) || s.type !== d.tm.type) {
    // Placeholder-era snapshots carried only episode counters: keep those so ids never repeat.
    const ep = s.episodes as Record<string, number> | undefined
    if (ep) d.tm.codes.forEach((c, i) => { if (typeof ep[c] === 'number') d.book.slots[i] = ep[c] })
    return
  }
  fill(d.acc, s.acc)
  if (s.v === 3 && Array.isArray(s.trk)) {
    // Another window length changes only the seen-bitmap's size: keep everything before it.
    if (s.trk.length === d.trk.length) fill(d.trk, s.trk)
    else if (s.trk.length > d.seenAt) fill(d.trk.subarray(0, d.seenAt), s.trk.slice(0, d.seenAt))
  } else if (Array.isArray(s.trk) && s.trk.length === d.numAt + V2_SLOTS) {
    // v2 had no hold, firmware times or seen-bitmap: those start empty; an open firmware episode
    // counts its quiet period from the newest reading.
    fill(d.trk.subarray(0, s.trk.length), s.trk)
  }
  fill(d.book.slots, s.book)
  if (s.v === 2) {
    for (const { index } of d.tm.firmware.values()) {
      if (episodeActive(d.book, index) === 0) continue
      d.trk[d.fwAt + index - d.tm.faults.length] = d.trk[d.numAt + LAST]!
      d.trk[d.numAt + FW_DUE] = -Infinity
    }
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

