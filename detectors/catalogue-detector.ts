/**
 * One detector for every loaded machine type: a shipped appliance type goes to the appliance
 * detector (features it derives, named fault modes, index.ts); a type defined only as data goes
 * to the detection engine (engine-detector.ts). Same `Detector` face, so the pipeline does not
 * care which watches a device.
 */
import { extractorOf } from './extractors.ts'
import { createDetector, type Detector, type DetectorConfig } from './index.ts'
import { createEngineDetector, type EngineDetector, type EngineDetectorConfig } from './engine-detector.ts'

export interface CatalogueDetector extends Detector {
  /** The engine side: fleet models and device histories of data-defined types. */
  readonly engine: EngineDetector
  /** True when the type is watched by the engine (no built-in feature extractor). */
  watchedByEngine(type: string): boolean
}

export interface CatalogueDetectorConfig {
  appliance?: Partial<DetectorConfig>
  engine?: Partial<EngineDetectorConfig>
}

export function createCatalogueDetector(config: CatalogueDetectorConfig = {}): CatalogueDetector {
  const appliance = createDetector(config.appliance)
  const engine = createEngineDetector({
    ...(config.appliance?.offlineAfterIntervals !== undefined ? { offlineAfterIntervals: config.appliance.offlineAfterIntervals } : {}),
    ...config.engine,
  })
  const owner = new Map<string, Detector>()
  const watchedByEngine = (type: string): boolean => extractorOf(type) === undefined
  const NONE: never[] = []

  return {
    engine,
    watchedByEngine,
    ensureDevice(deviceId, type, snapshot) {
      if (owner.has(deviceId)) return
      const d: Detector = watchedByEngine(type) ? engine : appliance
      d.ensureDevice(deviceId, type, snapshot)
      owner.set(deviceId, d)
    },
    hasDevice: (id) => owner.has(id),
    removeDevice(id) {
      owner.get(id)?.removeDevice(id)
      owner.delete(id)
    },
    process(reading) {
      const d = owner.get(reading.deviceId)
      return d ? d.process(reading) : NONE
    },
    firmwareEvent(deviceId, code, eventTime, detail) {
      const d = owner.get(deviceId)
      return d ? d.firmwareEvent(deviceId, code, eventTime, detail) : NONE
    },
    repairAction(deviceId, component, kind) {
      return owner.get(deviceId)?.repairAction?.(deviceId, component, kind) ?? NONE
    },
    health: (id, nowMs) => owner.get(id)?.health(id, nowMs),
    snapshot: (id) => owner.get(id)?.snapshot(id),
  }
}
