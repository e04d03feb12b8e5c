/**
 * Per appliance type, precomputed once at start-up (STYLE.md 9): the extractor, each fault's
 * symptoms as (feature slot, limit), and the code table episodes are indexed by.
 */
import { applianceTypes, catalogue, type ApplianceType, type FaultMode, type FirmwareCode } from '../domain/index.ts'
import { extractors, type Extractor } from './extractors.ts'
import type { FeatureLimit } from './tracker.ts'

export interface SymptomRef {
  feature: number
  name: string
  limit: FeatureLimit
}

export interface FaultRef {
  code: string
  index: number
  fault: FaultMode
  symptoms: SymptomRef[]
}

export interface TypeModel {
  type: ApplianceType
  ext: Extractor
  faults: FaultRef[]
  /** Episode code table: the type's fault codes, then its firmware codes. */
  codes: string[]
  firmware: Map<string, { index: number; fw: FirmwareCode }>
  componentNames: Map<string, string>
  intervalMs: number
}

function build(type: ApplianceType): TypeModel {
  const spec = catalogue[type]
  const ext = extractors[type]
  const faults: FaultRef[] = spec.faults.map((fault, index) => ({
    code: fault.code,
    index,
    fault,
    symptoms: fault.symptoms
      .filter((s) => ext.features.includes(s.feature))
      .map((s) => ({
        feature: ext.features.indexOf(s.feature),
        name: s.feature,
        limit: { direction: s.direction, failureChange: s.failureChange ?? 1, relative: s.relative ?? false },
      })),
  }))
  const codes = [...spec.faults.map((f) => f.code), ...spec.firmwareCodes.map((f) => f.code)]
  const firmware = new Map(spec.firmwareCodes.map((fw, i) => [fw.code, { index: spec.faults.length + i, fw }]))
  return {
    type, ext, faults, codes, firmware,
    componentNames: new Map(spec.components.map((c) => [c.id, c.name])),
    intervalMs: spec.reportingIntervalS * 1000,
  }
}

export const typeModels: Readonly<Record<ApplianceType, TypeModel>> = Object.fromEntries(
  applianceTypes.map((t) => [t, build(t)]),
) as Record<ApplianceType, TypeModel>
