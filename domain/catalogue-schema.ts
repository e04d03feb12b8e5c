/**
 * The catalogue file format: one machine type per JSON file, validated at start-up. Defined once
 * here (STYLE.md 2); `catalogue/schema.json` is this schema written out (`forewarn catalogue
 * schema`), for editors and other tools. Rules a JSON Schema cannot say (ids that must exist,
 * names that must be unique) are checked by `checkSpec`.
 */
import Type, { type Static } from 'typebox'
import { METRIC_NAME_PATTERN } from './telemetry.ts'

const Id = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'lower-case identifier: a letter, then letters, digits or _' })
const Text = Type.String({ minLength: 1, maxLength: 500 })
const Part = Type.Object({ partNumber: Type.String({ minLength: 1, maxLength: 64 }), name: Text }, { additionalProperties: false })

export const MetricSchema = Type.Object({
  name: Type.String({ pattern: METRIC_NAME_PATTERN, description: 'telemetry metric name, unit in the name (current_a)' }),
  unit: Type.String({ minLength: 1, maxLength: 32 }),
  normal: Type.Tuple([Type.Number(), Type.Number()], { description: 'range a healthy machine stays within: [low, high]' }),
  description: Text,
  component: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'id of the component this metric tells about' })),
}, { additionalProperties: false })

export const ComponentSchema = Type.Object({
  id: Id,
  name: Text,
  extendedWarranty: Type.Boolean({ description: 'an extended warranty can be bought for this component alone' }),
  parts: Type.Optional(Type.Array(Part, { description: 'spare parts a technician brings for an anomaly on this component' })),
}, { additionalProperties: false })

export const SymptomSchema = Type.Object({
  feature: Type.String({ pattern: METRIC_NAME_PATTERN, description: 'a metric of the type, or a feature its built-in detector derives' }),
  direction: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  failureChange: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'change from the baseline at functional failure, in feature units (or a fraction with relative)' })),
  relative: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })

export const FaultSchema = Type.Object({
  code: Type.String({ pattern: '^[A-Z0-9][A-Z0-9_-]{0,31}$' }),
  component: Id,
  name: Text,
  description: Text,
  symptoms: Type.Array(SymptomSchema, { minItems: 1 }),
  parts: Type.Array(Part),
  impact: Type.Union([Type.Literal('high'), Type.Literal('medium'), Type.Literal('low')]),
}, { additionalProperties: false })

export const FirmwareCodeSchema = Type.Object({
  code: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$' }),
  component: Id,
  meaning: Text,
  severity: Type.Union([Type.Literal('warning'), Type.Literal('critical')]),
  parts: Type.Array(Part),
}, { additionalProperties: false })

export const ApplianceSpecSchema = Type.Object({
  $schema: Type.Optional(Type.String()),
  type: Id,
  name: Text,
  reportingIntervalS: Type.Number({ exclusiveMinimum: 0, description: 'seconds between two readings of a healthy, connected machine' }),
  warmupHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'event time a new machine of the type is watched before its own baseline is trusted' })),
  models: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1 }),
  metrics: Type.Array(MetricSchema, { minItems: 1, maxItems: 64 }),
  components: Type.Array(ComponentSchema, { minItems: 1, maxItems: 30 }),
  faults: Type.Array(FaultSchema),
  firmwareCodes: Type.Array(FirmwareCodeSchema),
}, {
  additionalProperties: false,
  title: 'Forewarn machine type',
  description: 'One machine type of the Forewarn catalogue: its metrics, components, fault modes, firmware codes and spare parts.',
})

export type ApplianceSpecFile = Static<typeof ApplianceSpecSchema>

/** The published JSON Schema document (`catalogue/schema.json`). */
export function catalogueJsonSchema(): Record<string, unknown> {
  return { $schema: 'http://json-schema.org/draft-07/schema#', $id: 'catalogue/schema.json', ...(JSON.parse(JSON.stringify(ApplianceSpecSchema)) as Record<string, unknown>) }
}
