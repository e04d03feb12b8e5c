/**
 * `forewarn evaluate`: the planned fleet, offline, through the real detector as fast as the CPU
 * allows, scored against the simulator's ground truth. Large fleets are split over worker
 * threads (each device's readings stay in one worker, as in production).
 */
import { availableParallelism } from 'node:os'
import { createEngine } from '../detectors/engine.ts'
import { createDetector } from '../detectors/index.ts'
import { catalogue, type DetectorEvent, type Reading } from '../domain/index.ts'
import { sibling, startTsWorker } from '../ingest/ts-worker.ts'
import { createSimAppliance, planFleet, type FleetMember, type GroundTruth } from '../simulators/appliance.ts'

export interface EvaluateOptions {
  devices: number
  days: number
  seed: number
  /** Worker threads (default: 1 for small runs, else the CPU count, at most 4). */
  workers?: number
  /**
   * `appliance` (default): the built-in appliance detector. `engine`: the generic detection engine
   * on each appliance's raw metrics, for comparison (its warnings are ANOMALY, never a fault code).
   */
  detector?: 'appliance' | 'engine'
}

export interface Scorecard {
  detectionRate: number
  leadTimeHours: { median: number; p10: number }
  falseWarningsPer1000DeviceDays: number
  faultCodeAccuracy: number
  rulMedianRelativeError: number
  devices: number
  days: number
  seed: number
  faults: number
  detected: number
  falseWarnings: number
  warnings: number
  readings: number
  readingsPerSec: number
  elapsedS: number
  workers: number
  perFault: Record<string, { injected: number; detected: number; rightCode: number }>
}

/** The start of every evaluation fleet (fixed, so a seed means one fleet). */
export const EVAL_START_MS = Date.UTC(2026, 0, 1)

/** A raised warning, trimmed to what scoring needs (crosses the worker boundary). */
export interface RaisedWarning {
  deviceId: string
  faultCode: string
  source: 'detector' | 'firmware'
  eventTime: number
  rulMedianHours: number | null
}

export interface SliceResult {
  readings: number
  warnings: RaisedWarning[]
}

/** The generic engine on raw telemetry: the type's metrics in catalogue order, a 72-hour warm-up. */
function runEngineSlice(members: readonly FleetMember[], days: number): SliceResult {
  const warnings: RaisedWarning[] = []
  let readings = 0
  for (const m of members) {
    const spec = catalogue[m.type]
    const names = spec.metrics.map((x) => x.name)
    const engine = createEngine({ warmupRows: (72 * 3600) / spec.reportingIntervalS, rebaselineRows: (7 * 86_400) / spec.reportingIntervalS })
    const sim = createSimAppliance({ deviceId: m.deviceId, type: m.type, seed: m.seed, startMs: EVAL_START_MS, fault: m.fault, horizonDays: days })
    const values = new Float64Array(names.length)
    const n = Math.round((days * 86_400_000) / sim.intervalMs)
    for (let i = 0; i < n; i++) {
      const r = sim.next()
      if (r.lost) continue
      readings++
      names.forEach((name, k) => { values[k] = r.metrics[name] ?? NaN })
      const res = engine.process(m.deviceId, values, r.ts)
      if (res.warning) warnings.push({ deviceId: m.deviceId, faultCode: 'ANOMALY', source: 'detector', eventTime: r.ts, rulMedianHours: res.remainingLife ? res.remainingLife.lifeMs / 3_600_000 : null })
    }
  }
  return { readings, warnings }
}

/** Runs some fleet members for `days` through one detector; pure CPU, no IO. */
export function runSlice(members: readonly FleetMember[], days: number, detector: 'appliance' | 'engine' = 'appliance'): SliceResult {
  if (detector === 'engine') return runEngineSlice(members, days)
  const det = createDetector()
  const warnings: RaisedWarning[] = []
  let readings = 0
  const keep = (evs: readonly DetectorEvent[]): void => {
    for (const e of evs) {
      if (e.kind === 'warning.raised') {
        warnings.push({ deviceId: e.deviceId, faultCode: e.faultCode, source: e.source, eventTime: e.eventTime, rulMedianHours: e.rul?.medianHours ?? null })
      }
    }
  }
  for (const m of members) {
    const sim = createSimAppliance({ deviceId: m.deviceId, type: m.type, seed: m.seed, startMs: EVAL_START_MS, fault: m.fault, horizonDays: days })
    det.ensureDevice(m.deviceId, m.type)
    const n = Math.round((days * 86_400_000) / sim.intervalMs)
    const reading: Reading = { deviceId: m.deviceId, boot: 0, seq: 0, ts: 0, metrics: {} }
    for (let i = 0; i < n; i++) {
      const r = sim.next()
      if (r.lost) continue
      reading.boot = r.boot
      reading.seq = i
      reading.ts = r.ts
      reading.metrics = r.metrics
      readings++
      const evs = det.process(reading)
      if (evs.length > 0) keep(evs)
      if (m.fault && r.ts >= m.fault.failureMs) for (const fw of sim.drainFirmwareEvents()) keep(det.firmwareEvent(m.deviceId, fw.code, fw.ts, fw.detail))
    }
    det.removeDevice(m.deviceId)
  }
  return { readings, warnings }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

/**
 * Scores warnings against ground truth. A fault counts as detected when a detector warning on
 * that device is raised after onset and before functional failure; lead time is failure − the
 * first such warning. Warnings on devices with no fault in progress (healthy devices, or before
 * onset) are false. Fault-code accuracy is over the warnings raised while a fault was in progress.
 */
export function score(truth: readonly GroundTruth[], warnings: readonly RaisedWarning[], devices: number, days: number): Omit<Scorecard, 'devices' | 'days' | 'seed' | 'readings' | 'readingsPerSec' | 'elapsedS' | 'workers'> {
  const byDevice = new Map<string, RaisedWarning[]>()
  for (const w of warnings) {
    if (w.source !== 'detector') continue
    const list = byDevice.get(w.deviceId) ?? []
    list.push(w)
    byDevice.set(w.deviceId, list)
  }
  const truthBy = new Map(truth.map((t) => [t.deviceId, t]))
  const leads: number[] = []
  const rulErr: number[] = []
  const perFault: Scorecard['perFault'] = {}
  let detected = 0
  let falseWarnings = 0
  let inFault = 0
  let rightCode = 0
  for (const [deviceId, list] of byDevice) {
    const t = truthBy.get(deviceId)
    for (const w of list) {
      if (!t || w.eventTime < t.onsetMs) falseWarnings++
      else if (w.eventTime <= t.failureMs) {
        inFault++
        if (w.faultCode === t.faultCode) rightCode++
      }
    }
  }
  for (const t of truth) {
    const pf = (perFault[t.faultCode] ??= { injected: 0, detected: 0, rightCode: 0 })
    pf.injected++
    const first = (byDevice.get(t.deviceId) ?? []).filter((w) => w.eventTime >= t.onsetMs && w.eventTime <= t.failureMs).sort((a, b) => a.eventTime - b.eventTime)[0]
    if (!first) continue
    detected++
    pf.detected++
    if (first.faultCode === t.faultCode) pf.rightCode++
    const trueLeft = (t.failureMs - first.eventTime) / 3_600_000
    leads.push(trueLeft)
    if (first.rulMedianHours !== null && trueLeft > 0) rulErr.push(Math.abs(first.rulMedianHours - trueLeft) / trueLeft)
  }
  leads.sort((a, b) => a - b)
  rulErr.sort((a, b) => a - b)
  const r3 = (x: number): number => Math.round(x * 1000) / 1000
  return {
    detectionRate: truth.length ? r3(detected / truth.length) : 1,
    leadTimeHours: { median: r3(quantile(leads, 0.5)), p10: r3(quantile(leads, 0.1)) },
    falseWarningsPer1000DeviceDays: r3((falseWarnings * 1000) / Math.max(1, devices * days)),
    faultCodeAccuracy: inFault ? r3(rightCode / inFault) : 1,
    rulMedianRelativeError: rulErr.length ? r3(quantile(rulErr, 0.5)) : 0,
    faults: truth.length,
    detected,
    falseWarnings,
    warnings: warnings.length,
    perFault,
  }
}

export async function runEvaluate(opts: EvaluateOptions): Promise<Scorecard> {
  const t0 = performance.now()
  const plan = planFleet({ devices: opts.devices, seed: opts.seed, startMs: EVAL_START_MS, days: opts.days })
  const big = opts.devices * opts.days >= 2000
  const workers = Math.max(1, Math.min(opts.workers ?? (big ? Math.min(4, availableParallelism()) : 1), opts.devices))
  let results: SliceResult[]
  if (workers === 1) results = [runSlice(plan.members, opts.days, opts.detector)]
  else {
    const slices: FleetMember[][] = Array.from({ length: workers }, () => [])
    plan.members.forEach((m, i) => slices[i % workers]!.push(m))
    results = await Promise.all(slices.map((s) => runInWorker(s, opts.days, opts.detector ?? 'appliance')))
  }
  const warnings = results.flatMap((r) => r.warnings)
  const readings = results.reduce((a, r) => a + r.readings, 0)
  const elapsedS = (performance.now() - t0) / 1000
  return {
    ...score(plan.truth, warnings, opts.devices, opts.days),
    devices: opts.devices, days: opts.days, seed: opts.seed,
    readings, readingsPerSec: Math.round(readings / elapsedS), elapsedS: Math.round(elapsedS * 10) / 10, workers,
  }
}

const workerBody = sibling('evaluate-worker', import.meta.url)

function runInWorker(members: FleetMember[], days: number, detector: 'appliance' | 'engine'): Promise<SliceResult> {
  return new Promise((resolve, reject) => {
    const w = startTsWorker(workerBody, { members, days, detector })
    w.once('message', (r: SliceResult) => resolve(r))
    w.once('error', reject)
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`evaluate worker exited with ${code}`)) })
  })
}
