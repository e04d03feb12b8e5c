/**
 * The machine catalogue: metrics, components, fault modes, spare parts and which components an
 * extended warranty can cover. Simulators, detectors, tickets and dashboards all read it. Each
 * type is data, one JSON file per type (catalogue/*.json, format in catalogue-schema.ts): the four
 * shipped appliance types are loaded by default, and the composition root installs the operator's
 * files at start-up (`installCatalogue`), so a new machine type needs no release.
 */
import airConditionerFile from '../catalogue/air_conditioner.json' with { type: 'json' }
import refrigeratorFile from '../catalogue/refrigerator.json' with { type: 'json' }
import washingMachineFile from '../catalogue/washing_machine.json' with { type: 'json' }
import waterHeaterFile from '../catalogue/water_heater.json' with { type: 'json' }

/** A machine type's id (`type` in its catalogue file). */
export type ApplianceType = string
/** The shipped types: the ones the simulator can play and the built-in feature detector knows. */
export type BuiltinType = 'refrigerator' | 'air_conditioner' | 'washing_machine' | 'water_heater'
export const builtinTypes: readonly BuiltinType[] = ['refrigerator', 'air_conditioner', 'washing_machine', 'water_heater']
/** The simulated appliance types (the shipped ones); every loaded type: `loadedTypes()`. */
export const applianceTypes: readonly BuiltinType[] = builtinTypes

export interface MetricSpec {
  name: string
  unit: string
  /** Range a healthy appliance stays within in normal use. */
  normal: readonly [number, number]
  description: string
  /** The component this metric tells about (an anomaly on it is put on that component). */
  component?: string
}

export interface ComponentSpec {
  id: string
  name: string
  /** Whether an extended warranty can be bought for this component alone. */
  extendedWarranty: boolean
  /** Spare parts for an anomaly on this component that no named fault mode explains. */
  parts?: readonly SparePart[]
}

export interface SparePart {
  partNumber: string
  name: string
}

/** How a fault shows in the signals: a feature (metric or derived) drifting one way. */
export interface Symptom {
  feature: string
  direction: 'up' | 'down'
  /**
   * How far the feature has moved from the appliance's own baseline when the component fails
   * functionally (engineering limit): in feature units, or as a fraction of the baseline when
   * `relative`. Detectors measure degradation progress against it; simulators degrade toward it.
   */
  failureChange?: number
  relative?: boolean
}

export type FaultImpact = 'high' | 'medium' | 'low'

export interface FaultMode {
  code: string
  component: string
  name: string
  /** Plain-language description for the technician and the appliance owner. */
  description: string
  symptoms: readonly Symptom[]
  parts: readonly SparePart[]
  /** What a failure means for the household (a refrigerator losing cooling risks food). */
  impact: FaultImpact
}

/** Error codes the firmware itself publishes on `appliances/{id}/events`. */
export interface FirmwareCode {
  code: string
  component: string
  meaning: string
  severity: 'warning' | 'critical'
  parts: readonly SparePart[]
}

export interface ApplianceSpec {
  type: ApplianceType
  name: string
  /** Seconds between two telemetry readings from a healthy, connected appliance. */
  reportingIntervalS: number
  /** Event time a new machine is watched before its own baseline is trusted (detector default when absent). */
  warmupHours?: number
  metrics: readonly MetricSpec[]
  components: readonly ComponentSpec[]
  faults: readonly FaultMode[]
  firmwareCodes: readonly FirmwareCode[]
  models: readonly string[]
}

const shipped: readonly ApplianceSpec[] = [refrigeratorFile, airConditionerFile, washingMachineFile, waterHeaterFile].map((f) => {
  const { $schema: _schema, ...spec } = f as typeof f & { $schema?: string }
  return spec as unknown as ApplianceSpec
})

const registry: Record<string, ApplianceSpec> = {}
const names: Record<string, ReadonlySet<string>> = {}

/**
 * Every loaded type by id. Read-only: change it with `installCatalogue`. The shipped types are
 * always there (a file may replace one, never remove it).
 */
export const catalogue: Readonly<Record<BuiltinType, ApplianceSpec> & Record<string, ApplianceSpec>> = registry as Record<BuiltinType, ApplianceSpec>
/** Metric names per loaded type, precomputed so the hot path does a set look-up, not a scan. */
export const metricNames: Readonly<Record<string, ReadonlySet<string>>> = names

/**
 * Makes the catalogue the shipped types plus `specs` (checked beforehand, catalogue-file.ts); a
 * spec with a shipped type's id replaces it. Called once at start-up, before anything reads it.
 */
export function installCatalogue(specs: readonly ApplianceSpec[] = []): void {
  for (const k of Object.keys(registry)) { delete registry[k]; delete names[k] }
  for (const spec of [...shipped, ...specs]) {
    registry[spec.type] = spec
    names[spec.type] = new Set(spec.metrics.map((m) => m.name))
  }
}
installCatalogue()

/** The shipped catalogue files' types, as loaded (tests and `catalogue check` compare against them). */
export const shippedSpecs: readonly ApplianceSpec[] = shipped

export function loadedTypes(): string[] {
  return Object.keys(registry)
}

export function isApplianceType(x: string): x is ApplianceType {
  return Object.hasOwn(registry, x)
}

export function isBuiltinType(x: string): x is BuiltinType {
  return (builtinTypes as readonly string[]).includes(x)
}

/** The loaded type's spec; throws for a type that is not loaded (a device's type always is). */
export function applianceSpec(type: ApplianceType): ApplianceSpec {
  const spec = registry[type]
  if (spec === undefined) throw new Error(`appliance type ${type} is not in the loaded catalogue`)
  return spec
}

export function findFault(type: ApplianceType, code: string): FaultMode | FirmwareCode | undefined {
  const spec = registry[type]
  if (spec === undefined) return undefined
  return spec.faults.find((f) => f.code === code) ?? spec.firmwareCodes.find((f) => f.code === code)
}

/** The component an anomaly on these metrics belongs to: the first metric's own, else the type's first component. */
export function componentOfMetrics(spec: ApplianceSpec, metrics: readonly string[]): string {
  for (const name of metrics) {
    const c = spec.metrics.find((m) => m.name === name)?.component
    if (c !== undefined) return c
  }
  return spec.components[0]!.id
}
