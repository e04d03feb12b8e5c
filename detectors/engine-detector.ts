/**
 * The live detector for machine types defined as data (a catalogue file without a built-in
 * feature extractor): the detection engine (engine.ts) over the type's metrics, behind the same
 * `Detector` face as the appliance detector. Pure: no IO, time from the readings.
 *
 * - A warning of the engine becomes an episode: a named fault of the type when the metrics that
 *   moved match the symptoms of one of its `faults` (plain metrics, the right direction), else
 *   fault code `ANOMALY` on the component of the metrics that moved (`metrics[].component`, else
 *   the type's first component). Evidence in the catalogue's units; remaining life from the
 *   type's failure model, else from the health index's trend.
 * - A type's fleet models (its normal learnt across healthy devices, its failure signatures) are
 *   set with `setModels`; each device keeps its rows since its last repair for fleet learning.
 */
import type { ApplianceSpec, DetectorEvent, Evidence, FaultMode, FirmwareCode, HealthCore, Reading, RemainingLife, Severity } from '../domain/index.ts'
import { applianceSpec, componentOfMetrics, severityRank } from '../domain/index.ts'
import { createEngine, type BaselineModel, type Engine, type EngineConfig, type EngineResult, type FailureEstimator, type Moved } from './engine.ts'
import type { DeviceHistory } from './engine-fleet.ts'
import type { Detector } from './index.ts'

export const ANOMALY = 'ANOMALY'

export interface EngineDetectorConfig {
  /** Engine settings for every type (warm-up rows come from the type's `warmupHours` when it has one). */
  engine: Partial<EngineConfig>
  /** Warm-up when the type gives none, in hours of event time. */
  warmupHours: number
  /**
   * Rows per device kept for fleet learning (its rows since the last repair, newest kept), in
   * single precision: 2,000 rows of 8 metrics are 64 KB a device.
   */
  historyRows: number
  /** Silence longer than this many reporting intervals means offline (health with `nowMs`). */
  offlineAfterIntervals: number
  /** A firmware code's episode clears after this many hours of event time without the code. */
  firmwareClearHours: number
}

export const defaultEngineDetectorConfig: EngineDetectorConfig = {
  engine: {},
  warmupHours: 72,
  historyRows: 2000,
  offlineAfterIntervals: 5,
  firmwareClearHours: 24,
}

export interface TypeModels {
  reference?: BaselineModel | undefined
  failure?: FailureEstimator | undefined
}

export interface EngineDetector extends Detector {
  /** Replaces a type's fleet models; its devices keep their state (moved by snapshot). */
  setModels(type: string, models: TypeModels): void
  /** The device's rows since it was added or last repaired (engine metric order). */
  history(deviceId: string): DeviceHistory | undefined
  /** Devices of the type, with whether each is healthy now (no open episode, health index below the warning level). */
  devicesOf(type: string): { id: string; healthy: boolean }[]
}

interface TypeState {
  spec: ApplianceSpec
  engine: Engine
  intervalMs: number
  units: string[]
  failureLevel: number
}

interface Episode {
  code: string
  component: string
  severity: Severity
  fault: FaultMode | null
  episodeId: string
  /** What moved when the episode started: its escalations carry it too. */
  evidence: Evidence[]
}

interface DeviceState {
  id: string
  t: TypeState
  last: number
  dropped: number
  runMs: number
  /** Episodes so far per code (episode ids `{device}:{code}:{n}` never repeat). */
  counts: Record<string, number>
  active: Episode | null
  firmware: Map<string, { seen: number; severity: Severity | null; episodeId: string }>
  held: Set<string>
  health: number
  /** Index of the metric furthest from normal in the last row, and by how many spreads. */
  topMetric: number
  topSpreads: number
  row: Float64Array
  hist: Float32Array
  histT: Float64Array
  histLen: number
  histHead: number
}

const NONE: DetectorEvent[] = []
Object.freeze(NONE)
const HOUR_MS = 3_600_000

export function createEngineDetector(config: Partial<EngineDetectorConfig> = {}): EngineDetector {
  const cfg: EngineDetectorConfig = { ...defaultEngineDetectorConfig, ...config }
  const clearMs = cfg.firmwareClearHours * HOUR_MS
  const types = new Map<string, TypeState>()
  const models = new Map<string, TypeModels>()
  const devices = new Map<string, DeviceState>()

  function engineFor(spec: ApplianceSpec, m: TypeModels | undefined): Engine {
    const hours = spec.warmupHours ?? cfg.warmupHours
    const warmupRows = Math.max(20, Math.round((hours * 3600) / spec.reportingIntervalS))
    return createEngine({ ...cfg.engine, warmupRows }, { reference: m?.reference, failure: m?.failure })
  }

  function typeState(type: string): TypeState {
    const spec = applianceSpec(type)
    let t = types.get(type)
    if (t && t.spec === spec) return t
    const engine = engineFor(spec, models.get(type))
    t = { spec, engine, intervalMs: spec.reportingIntervalS * 1000, units: spec.metrics.map((m) => m.unit), failureLevel: engine.config.failureLevel }
    types.set(type, t)
    return t
  }

  function fresh(id: string, t: TypeState): DeviceState {
    const d = t.spec.metrics.length
    const rows = Math.max(0, Math.floor(cfg.historyRows))
    return {
      id, t, last: -Infinity, dropped: 0, runMs: 0, counts: {}, active: null, firmware: new Map(), held: new Set(), health: NaN,
      topMetric: -1, topSpreads: 0, row: new Float64Array(d), hist: new Float32Array(rows * d), histT: new Float64Array(rows), histLen: 0, histHead: 0,
    }
  }

  function nextEpisodeId(dev: DeviceState, code: string): string {
    const n = (dev.counts[code] ?? 0) + 1
    dev.counts[code] = n
    return `${dev.id}:${code}:${n}`
  }

  /** The named fault whose symptoms best match what moved (most symptoms, on metrics, in their direction). */
  function matchFault(spec: ApplianceSpec, moved: readonly Moved[]): FaultMode | null {
    let best: FaultMode | null = null
    let bestHits = 0
    for (const f of spec.faults) {
      let hits = 0
      for (const s of f.symptoms) {
        const i = spec.metrics.findIndex((m) => m.name === s.feature)
        if (i < 0) continue
        if (moved.some((m) => m.metric === i && (s.direction === 'up' ? m.spreads > 0 : m.spreads < 0))) hits++
      }
      if (hits > bestHits) { best = f; bestHits = hits }
    }
    return best
  }

  function lifeOf(res: EngineResult): RemainingLife | null {
    const l = res.remainingLife
    if (!l || !Number.isFinite(l.lifeMs)) return null
    const median = l.lifeMs / HOUR_MS
    return {
      medianHours: round(median),
      lowHours: round(Math.min(median, l.lowMs / HOUR_MS)),
      highHours: round(Number.isFinite(l.highMs) ? Math.max(median, l.highMs / HOUR_MS) : median * 3),
    }
  }

  function severityOf(dev: DeviceState, rul: RemainingLife | null): Severity {
    if ((rul && rul.medianHours <= 72) || dev.health >= dev.t.failureLevel) return 'critical'
    return 'warning'
  }

  function evidenceOf(t: TypeState, moved: readonly Moved[]): Evidence[] {
    return moved.map((m) => {
      const metric = t.spec.metrics[m.metric]!
      const unit = t.units[m.metric]!
      const u = unit === 'bool' || unit === 'enum' ? '' : ` ${unit}`
      const what = `${metric.name} ${m.spreads > 0 ? 'rose' : 'fell'} from ${round(m.baseline)}${u} to ${round(m.value)}${u}`
      return {
        feature: metric.name, value: round(m.value), baseline: round(m.baseline), deviation: round(m.spreads), slopePerDay: null, unit,
        detail: `${what} (${round(Math.abs(m.spreads))} spreads from its normal)`,
      }
    })
  }

  function event(dev: DeviceState, kind: DetectorEvent['kind'], ep: Episode, ts: number, message: string, evidence: Evidence[], rul: RemainingLife | null): DetectorEvent {
    return { kind, deviceId: dev.id, episodeId: ep.episodeId, faultCode: ep.code, component: ep.component, severity: ep.severity, eventTime: ts, message, evidence, rul, source: 'detector' }
  }

  const componentName = (dev: DeviceState, id: string): string => (dev.t.spec.components.find((c) => c.id === id)?.name ?? id).toLowerCase()
  const title = (dev: DeviceState, ep: Episode): string => ep.fault?.name ?? `Anomaly of the ${componentName(dev, ep.component)}`

  function describe(dev: DeviceState, ep: Episode, rul: RemainingLife | null): string {
    const what = ep.fault ? `${ep.fault.name}: ${componentName(dev, ep.component)}` : `${title(dev, ep)}: the ${dev.t.spec.name.toLowerCase()} left its normal`
    return rul ? `${what}; failure expected in ${span(rul.lowHours)}–${span(rul.highHours)}` : what
  }

  function remember(dev: DeviceState, ts: number): void {
    const n = dev.histT.length
    if (n === 0) return
    dev.hist.set(dev.row, dev.histHead * dev.row.length)
    dev.histT[dev.histHead] = ts
    dev.histHead = (dev.histHead + 1) % n
    if (dev.histLen < n) dev.histLen++
  }

  /** Clears the firmware episodes whose code has been quiet for `firmwareClearHours` by `ts`. */
  function firmwareQuiet(dev: DeviceState, ts: number, events: DetectorEvent[]): DetectorEvent[] {
    for (const [code, f] of dev.firmware) {
      if (f.severity === null || ts - f.seen < clearMs) continue
      const fw = dev.t.spec.firmwareCodes.find((x) => x.code === code)!
      const out = events === NONE ? [] : events
      out.push(firmwareEvent(dev, 'warning.cleared', fw, f.severity, f.episodeId, ts, `${fw.meaning}: not reported for ${cfg.firmwareClearHours} h`))
      f.severity = null
      events = out
    }
    return events
  }

  function firmwareEvent(dev: DeviceState, kind: DetectorEvent['kind'], fw: FirmwareCode, severity: Severity, episodeId: string, ts: number, message: string): DetectorEvent {
    return { kind, deviceId: dev.id, episodeId, faultCode: fw.code, component: fw.component, severity, eventTime: ts, message, evidence: [], rul: null, source: 'firmware' }
  }

  function process(reading: Reading): DetectorEvent[] {
    const dev = devices.get(reading.deviceId)
    if (!dev) return NONE
    const ts = reading.ts
    // The engine's statistics are sequential: a reading older than the newest is left out.
    if (!(ts > dev.last)) { dev.dropped++; return NONE }
    const t = dev.t
    const metrics = t.spec.metrics
    for (let i = 0; i < metrics.length; i++) {
      const v = reading.metrics[metrics[i]!.name]
      dev.row[i] = typeof v === 'number' ? v : NaN
    }
    if (dev.last !== -Infinity) dev.runMs += Math.min(ts - dev.last, 5 * t.intervalMs)
    dev.last = ts
    remember(dev, ts)
    let events = dev.firmware.size > 0 ? firmwareQuiet(dev, ts, NONE) : NONE
    const res = t.engine.process(dev.id, dev.row, ts)
    dev.health = res.health
    if (res.deviation) {
      let top = -1, best = 0
      for (let i = 0; i < metrics.length; i++) {
        const z = Math.abs(res.deviation[i]!)
        if (Number.isFinite(z) && z > best) { best = z; top = i }
      }
      dev.topMetric = top
      dev.topSpreads = best
    }
    if (res.cleared && dev.active) {
      const ep = dev.active
      dev.active = null
      const out = events === NONE ? [] : events
      out.push(event(dev, 'warning.cleared', ep, ts, `${title(dev, ep)}: back within its normal`, [], null))
      events = out
    }
    if (res.warning && !dev.active) {
      const moved = res.warning.moved
      const fault = matchFault(t.spec, moved)
      const component = fault?.component ?? componentOfMetrics(t.spec, moved.map((m) => metrics[m.metric]!.name))
      // A component under repair neither raises nor escalates.
      if (!dev.held.has(component)) {
        const rul = lifeOf(res)
        const code = fault?.code ?? ANOMALY
        const ep: Episode = { code, component, fault, severity: severityOf(dev, rul), episodeId: nextEpisodeId(dev, code), evidence: evidenceOf(t, moved) }
        dev.active = ep
        const out = events === NONE ? [] : events
        out.push(event(dev, 'warning.raised', ep, ts, describe(dev, ep, rul), ep.evidence, rul))
        events = out
      }
    } else if (dev.active && !res.cleared && !dev.held.has(dev.active.component)) {
      const rul = lifeOf(res)
      const sev = severityOf(dev, rul)
      if (severityRank[sev] > severityRank[dev.active.severity]) {
        dev.active.severity = sev
        const out = events === NONE ? [] : events
        out.push(event(dev, 'warning.escalated', dev.active, ts, describe(dev, dev.active, rul), dev.active.evidence, rul))
        events = out
      }
    }
    return events
  }

  return {
    ensureDevice(deviceId, type, snapshot) {
      if (devices.has(deviceId)) return
      const dev = fresh(deviceId, typeState(type))
      if (snapshot) restore(dev, snapshot)
      devices.set(deviceId, dev)
    },
    hasDevice: (id) => devices.has(id),
    removeDevice: (id) => void devices.delete(id),
    process,

    firmwareEvent(deviceId, code, eventTime, detail) {
      const dev = devices.get(deviceId)
      const fw = dev?.t.spec.firmwareCodes.find((f) => f.code === code)
      if (!dev || !fw || !Number.isFinite(eventTime)) return NONE
      let f = dev.firmware.get(code)
      if (f && !(eventTime > f.seen)) return NONE
      const events: DetectorEvent[] = []
      if (f && f.severity !== null && eventTime - f.seen >= clearMs) {
        events.push(firmwareEvent(dev, 'warning.cleared', fw, f.severity, f.episodeId, eventTime, `${fw.meaning}: not reported for ${cfg.firmwareClearHours} h`))
        f.severity = null
      }
      if (!f) dev.firmware.set(code, (f = { seen: eventTime, severity: null, episodeId: '' }))
      f.seen = eventTime
      if (dev.held.has(fw.component) || f.severity !== null) return events
      f.severity = fw.severity
      f.episodeId = nextEpisodeId(dev, code)
      events.push(firmwareEvent(dev, 'warning.raised', fw, fw.severity, f.episodeId, eventTime, detail ? `${fw.meaning} (${detail})` : fw.meaning))
      return events
    },

    repairAction(deviceId, component, kind) {
      const dev = devices.get(deviceId)
      if (!dev || !dev.t.spec.components.some((c) => c.id === component)) return NONE
      if (kind === 'hold') { dev.held.add(component); return NONE }
      if (kind === 'release') { dev.held.delete(component); return NONE }
      // Reset: the machine's normal is relearnt from the next rows (a new part), its open
      // episodes on the component end, and its history restarts.
      const ts = Number.isFinite(dev.last) ? dev.last : 0
      const events: DetectorEvent[] = []
      if (dev.active && dev.active.component === component) {
        events.push(event(dev, 'warning.cleared', dev.active, ts, `${title(dev, dev.active)}: cleared by a repair`, [], null))
        dev.active = null
      }
      for (const [code, f] of dev.firmware) {
        const fw = dev.t.spec.firmwareCodes.find((x) => x.code === code)!
        if (f.severity === null || fw.component !== component) continue
        events.push(firmwareEvent(dev, 'warning.cleared', fw, f.severity, f.episodeId, ts, `${fw.meaning}: cleared by a repair`))
        f.severity = null
      }
      dev.t.engine.reset(deviceId)
      dev.histLen = 0
      dev.histHead = 0
      dev.health = NaN
      return events
    },

    health(deviceId, nowMs) {
      const dev = devices.get(deviceId)
      if (!dev) return undefined
      const spec = dev.t.spec
      const components: HealthCore['components'] = {}
      for (const c of spec.components) components[c.id] = { score: 100, reason: 'no anomaly seen' }
      const warmingUp = !Number.isFinite(dev.health)
      if (!warmingUp) {
        // The health index is 1 at the warning level and failureLevel at failure.
        const score = Math.round(100 * (1 - Math.min(1, Math.max(0, dev.health) / dev.t.failureLevel)))
        const metric = dev.topMetric >= 0 ? spec.metrics[dev.topMetric]! : null
        const component = dev.active?.component ?? (metric ? componentOfMetrics(spec, [metric.name]) : spec.components[0]!.id)
        const reason = metric ? `${metric.name} is ${round(dev.topSpreads)} spreads from its normal` : 'no anomaly seen'
        const c = components[component]
        if (c && score < c.score) components[component] = { score, reason }
      }
      for (const [code, f] of dev.firmware) {
        if (f.severity === null) continue
        const fw = spec.firmwareCodes.find((x) => x.code === code)!
        const c = components[fw.component]
        if (c) components[fw.component] = { score: Math.min(c.score, f.severity === 'critical' ? 10 : 40), reason: `firmware ${fw.code}: ${fw.meaning}` }
      }
      for (const id of dev.held) if (components[id]) components[id].reason += ' (repair in progress: warnings held)'
      let worst = dev.active ? severityRank[dev.active.severity] : 0
      for (const f of dev.firmware.values()) if (f.severity !== null) worst = Math.max(worst, severityRank[f.severity])
      const overall = Math.min(...Object.values(components).map((c) => c.score))
      const last = dev.last === -Infinity ? null : dev.last
      const silent = nowMs !== undefined && (last === null || nowMs - last > cfg.offlineAfterIntervals * dev.t.intervalMs)
      const rank: Severity | undefined = worst === 3 ? 'critical' : worst === 2 ? 'warning' : worst === 1 ? 'watch' : undefined
      const core: HealthCore = {
        overall, status: silent ? 'offline' : (rank ?? (overall < 80 ? 'watch' : 'healthy')), components, lastEventTime: last, warmingUp,
        usage: { runningHours: round(dev.runMs / HOUR_MS), cycles: 0, doorOpenings: 0 },
      }
      if (dev.dropped > 0) core.input = { lateFolded: 0, dropped: dev.dropped, reason: `${dev.dropped} readings older than the newest one left out (the engine reads rows in event-time order)` }
      return core
    },

    snapshot(deviceId) {
      const dev = devices.get(deviceId)
      if (!dev) return undefined
      const snap: SnapshotV1 = {
        v: 1, kind: 'engine', type: dev.t.spec.type, engine: dev.t.engine.snapshot(deviceId) ?? null,
        last: Number.isFinite(dev.last) ? dev.last : null, dropped: dev.dropped, runMs: dev.runMs, counts: dev.counts, active: dev.active,
        firmware: [...dev.firmware], held: [...dev.held],
      }
      return JSON.stringify(snap)
    },

    setModels(type, m) {
      models.set(type, m)
      const old = types.get(type)
      if (!old) return
      types.delete(type)
      const t = typeState(type)
      for (const dev of devices.values()) {
        if (dev.t !== old) continue
        const s = old.engine.snapshot(dev.id)
        if (s !== undefined) t.engine.restore(dev.id, s)
        dev.t = t
      }
    },

    history(deviceId) {
      const dev = devices.get(deviceId)
      if (!dev) return undefined
      const n = dev.histT.length
      const d = dev.row.length
      const rows: Float64Array[] = []
      const timesMs: number[] = []
      for (let k = 0; k < dev.histLen; k++) {
        const i = (dev.histHead - dev.histLen + k + n) % n
        rows.push(Float64Array.from(dev.hist.subarray(i * d, (i + 1) * d)))
        timesMs.push(dev.histT[i]!)
      }
      return { rows, timesMs }
    },

    devicesOf(type) {
      const out: { id: string; healthy: boolean }[] = []
      for (const dev of devices.values()) {
        if (dev.t.spec.type !== type) continue
        const fwActive = [...dev.firmware.values()].some((f) => f.severity !== null)
        // A device still learning its own normal is healthy as far as anyone knows: its rows are what normal looks like.
        out.push({ id: dev.id, healthy: dev.active === null && !fwActive && !(dev.health >= 1) })
      }
      return out
    },
  }

  /** A snapshot of another kind or type is ignored except its episode counts: the device warms up anew. */
  function restore(dev: DeviceState, snapshot: string): void {
    let s: Partial<SnapshotV1>
    try {
      s = JSON.parse(snapshot) as Partial<SnapshotV1>
    } catch {
      return
    }
    if (s.counts && typeof s.counts === 'object') dev.counts = { ...s.counts }
    if (s.v !== 1 || s.kind !== 'engine' || s.type !== dev.t.spec.type) return
    if (s.engine) {
      try {
        dev.t.engine.restore(dev.id, s.engine)
      } catch {
        return
      }
    }
    dev.last = s.last ?? -Infinity
    dev.dropped = s.dropped ?? 0
    dev.runMs = s.runMs ?? 0
    dev.active = s.active ?? null
    dev.firmware = new Map(s.firmware ?? [])
    dev.held = new Set(s.held ?? [])
  }
}

interface SnapshotV1 {
  v: 1
  kind: 'engine'
  type: string
  engine: string | null
  last: number | null
  dropped: number
  runMs: number
  counts: Record<string, number>
  active: Episode | null
  firmware: [string, { seen: number; severity: Severity | null; episodeId: string }][]
  held: string[]
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

function span(hours: number): string {
  if (hours < 1) return `${Math.max(1, Math.round(hours * 60))} min`
  return hours < 48 ? `${Math.round(hours)} h` : `${Math.round(hours / 24)} days`
}
