/**
 * The detector's public face. Pure: no IO, no clock of its own; time is the readings' event time.
 * PLACEHOLDER implementation (fixed thresholds on the catalogue's normal ranges) until the real
 * streaming detector lands; the interface is what the rest of the system builds on.
 */
import type { ApplianceType, DetectorEvent, HealthCore, Reading } from '../domain/index.ts'
import { catalogue } from '../domain/index.ts'

export interface DetectorConfig {
  /** Hours of event time a device is watched before its baseline is trusted. */
  warmupHours: number
}

export const defaultDetectorConfig: DetectorConfig = { warmupHours: 24 }

export interface Detector {
  /** Adds a device (or restores it from `snapshot()` output). Idempotent. */
  ensureDevice(deviceId: string, type: ApplianceType, snapshot?: string): void
  hasDevice(deviceId: string): boolean
  removeDevice(deviceId: string): void
  /** Feeds one reading (event time may be late or out of order); returns what changed. */
  process(reading: Reading): DetectorEvent[]
  /** An error code the firmware published itself on `appliances/{id}/events`. */
  firmwareEvent(deviceId: string, code: string, eventTime: number, detail?: string): DetectorEvent[]
  health(deviceId: string): HealthCore | undefined
  /** Serialised state, enough to resume without a new warm-up. */
  snapshot(deviceId: string): string | undefined
}

export function createDetector(config: Partial<DetectorConfig> = {}): Detector {
  const cfg = { ...defaultDetectorConfig, ...config }
  void cfg
  const devices = new Map<string, { type: ApplianceType; last: number | null; active: Map<string, number>; episodes: Record<string, number> }>()
  const events: DetectorEvent[] = []
  return {
    ensureDevice(deviceId, type, snapshot) {
      if (devices.has(deviceId)) return
      const s = snapshot ? (JSON.parse(snapshot) as { episodes: Record<string, number> }) : { episodes: {} }
      devices.set(deviceId, { type, last: null, active: new Map(), episodes: s.episodes })
    },
    hasDevice: (id) => devices.has(id),
    removeDevice: (id) => void devices.delete(id),
    process(reading) {
      void events
      const d = devices.get(reading.deviceId)
      if (!d) return []
      d.last = Math.max(d.last ?? 0, reading.ts)
      return []
    },
    firmwareEvent(deviceId, code, eventTime) {
      const d = devices.get(deviceId)
      if (!d) return []
      const fw = catalogue[d.type].firmwareCodes.find((c) => c.code === code)
      if (!fw) return []
      const n = (d.episodes[code] ?? 0) + 1
      d.episodes[code] = n
      return [{
        kind: 'warning.raised', deviceId, episodeId: `${deviceId}:${code}:${n}`, faultCode: code, component: fw.component,
        severity: fw.severity, eventTime, message: fw.meaning, evidence: [], rul: null, source: 'firmware',
      }]
    },
    health(deviceId) {
      const d = devices.get(deviceId)
      if (!d) return undefined
      const components: HealthCore['components'] = {}
      for (const c of catalogue[d.type].components) components[c.id] = { score: 100, reason: 'no anomaly seen' }
      return { overall: 100, status: 'healthy', components, usage: { runningHours: 0, cycles: 0, doorOpenings: 0 }, lastEventTime: d.last, warmingUp: true }
    },
    snapshot(deviceId) {
      const d = devices.get(deviceId)
      return d ? JSON.stringify({ episodes: d.episodes }) : undefined
    },
  }
}
