/**
 * Per appliance type, precomputed once at start-up (STYLE.md 9): the extractor, each fault's
 * symptoms as (feature slot, limit), and the code table episodes are indexed by.
 */
import { applianceSpec, type ApplianceSpec, type ApplianceType, type FaultMode, type FirmwareCode } from '../domain/index.ts'
import { extractorOf, type Extractor } from './extractors.ts'
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

/** What a repair of one component touches: its hold bit, its fault modes' features, its codes. */
export interface ComponentRef {
  bit: number
  features: number[]
  /** Episode code indices (fault modes and firmware codes) that belong to the component. */
  codes: number[]
}

export interface TypeModel {
  type: ApplianceType
  ext: Extractor
  faults: FaultRef[]
  /** Episode code table: the type's fault codes, then its firmware codes. */
  codes: string[]
  firmware: Map<string, { index: number; fw: FirmwareCode }>
  componentNames: Map<string, string>
  components: Map<string, ComponentRef>
  /** Per episode code index: the hold bit of its component. */
  codeBit: number[]
  intervalMs: number
}

function build(spec: ApplianceSpec): TypeModel {
  const type = spec.type
  const ext = extractorOf(type)
  if (ext === undefined) throw new Error(`${type} has no built-in feature detector (a data-defined type is watched by the detection engine)`)
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
  const components = new Map<string, ComponentRef>(spec.components.map((c, bit) => [c.id, { bit, features: [], codes: [] }]))
  const codeBit: number[] = []
  const owner = (component: string): ComponentRef => {
    let c = components.get(component)
    if (!c) components.set(component, (c = { bit: components.size, features: [], codes: [] }))
    return c
  }
  for (const f of faults) {
    const c = owner(f.fault.component)
    c.codes.push(f.index)
    for (const sym of f.symptoms) if (!c.features.includes(sym.feature)) c.features.push(sym.feature)
    codeBit[f.index] = c.bit
  }
  for (const { index, fw } of firmware.values()) {
    const c = owner(fw.component)
    c.codes.push(index)
    codeBit[index] = c.bit
  }
  if (components.size > 30) throw new Error(`${type}: more than 30 components do not fit the hold mask`)
  return {
    type, ext, faults, codes, firmware, components, codeBit,
    componentNames: new Map(spec.components.map((c) => [c.id, c.name])),
    intervalMs: spec.reportingIntervalS * 1000,
  }
}

// Keyed by the spec itself, so a catalogue file that replaces a shipped type gets its own model.
const built = new WeakMap<ApplianceSpec, TypeModel>()

/** The type's model, built on first use from the loaded catalogue. */
export function typeModel(type: ApplianceType): TypeModel {
  const spec = applianceSpec(type)
  let tm = built.get(spec)
  if (!tm) built.set(spec, (tm = build(spec)))
  return tm
}
