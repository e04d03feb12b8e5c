/**
 * Warnings and tickets in plain words (issue 15 §3): remaining life rounded to what a person
 * plans with ("in about 3 days", "in 3 to 5 days"), metrics and features named by their catalogue
 * description with their unit, values rounded to the precision a reader can use.
 */
import { applianceSpec, type ApplianceType } from './catalogue.ts'
import type { Evidence, RemainingLife } from './model.ts'

const HOUR = 1
const DAY = 24 * HOUR

/** Hours to whole units a person would use: hours under two days, days after, each end rounded. */
function roundedSpan(lowHours: number, highHours: number): { lo: number; hi: number; unit: 'hour' | 'day' } {
  const unit = highHours < 2 * DAY ? 'hour' : 'day'
  const per = unit === 'hour' ? HOUR : DAY
  const lo = Math.max(1, Math.round(lowHours / per))
  const hi = Math.max(lo, Math.round(highHours / per))
  return { lo, hi, unit }
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`

/**
 * "in about 3 days" when the interval rounds to one value (or is narrow beside its size),
 * "in 3 to 5 days" otherwise, "within the hour" when it is already due.
 */
export function remainingLifeWords(rul: RemainingLife): string {
  if (rul.highHours < 1) return 'within the hour'
  const { lo, hi, unit } = roundedSpan(rul.lowHours, rul.highHours)
  if (hi - lo <= Math.max(0, Math.floor(lo * 0.1))) {
    const per = unit === 'hour' ? HOUR : DAY
    return `in about ${plural(Math.max(1, Math.round(rul.medianHours / per)), unit)}`
  }
  return `in ${lo} to ${hi} ${unit}s`
}

/** Units by the suffix of a metric or feature name (the telemetry contract puts units in names). */
const suffixUnits: ReadonlyArray<readonly [string, string]> = [
  ['_c_per_h', '°C/h'], ['_l_min', 'L/min'], ['_mm_s', 'mm/s'], ['_pa', 'Pa'], ['_bar', 'bar'], ['_mv', 'mV'], ['_rpm', 'rpm'],
  ['_kg', 'kg'], ['_l', 'L'], ['_a', 'A'], ['_s', 's'], ['_c', '°C'], ['_kw', 'kW'], ['_w', 'W'], ['_v', 'V'],
]

/** Features the detector derives from readings; not catalogue metrics, so described here. */
const derived: Readonly<Record<string, { description: string; unit: string }>> = {
  duty_cycle: { description: 'share of time the compressor runs', unit: '%' },
  running_current_a: { description: 'current while running', unit: 'A' },
  cooling_capacity_c_per_h: { description: 'cooling speed', unit: '°C/h' },
  heat_rate_c_per_h: { description: 'heating speed', unit: '°C/h' },
  delta_t_c: { description: 'temperature drop across the coil', unit: '°C' },
  overshoot_c: { description: 'temperature overshoot', unit: '°C' },
  fill_time_s: { description: 'time to fill with water', unit: 's' },
  drain_time_s: { description: 'time to drain', unit: 's' },
  heating_time_s: { description: 'time to heat the water', unit: 's' },
  spin_vibration_mm_s: { description: 'vibration during the spin', unit: 'mm/s' },
}

export interface FeatureLabel {
  /** Plain description, e.g. "fresh-food cabinet temperature". */
  description: string
  /** Unit symbol, '' when the value has none. */
  unit: string
}

/** The catalogue's description and unit of a metric, or of a derived feature; a readable fallback otherwise. */
export function featureLabel(type: ApplianceType, feature: string): FeatureLabel {
  const m = applianceSpec(type).metrics.find((x) => x.name === feature)
  if (m !== undefined) return { description: m.description, unit: m.unit === 'bool' ? '' : m.unit }
  const d = derived[feature]
  if (d !== undefined) return d
  const suffix = suffixUnits.find(([s]) => feature.endsWith(s))
  const stem = suffix === undefined ? feature : feature.slice(0, -suffix[0].length)
  return { description: stem.replaceAll('_', ' '), unit: suffix?.[1] ?? '' }
}

/** A value rounded to three significant digits at most, with its unit. Fractions shown as percent when the unit is '%'. */
export function valueWords(value: number, unit: string): string {
  const v = unit === '%' && Math.abs(value) <= 1.5 ? value * 100 : value
  const abs = Math.abs(v)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2
  const text = Number(v.toFixed(digits)).toString()
  if (unit === '') return text
  return unit === '%' ? `${text} %` : `${text} ${unit}`
}

/** "fresh-food cabinet temperature rose from 4.1 °C to 6.3 °C" — no raw names, no unitless deviations. */
export function evidenceWords(type: ApplianceType, e: Evidence): string {
  const { description, unit } = featureLabel(type, e.feature)
  const verb = e.value >= e.baseline ? 'rose' : 'fell'
  return `${description.charAt(0).toUpperCase()}${description.slice(1)} ${verb} from ${valueWords(e.baseline, unit)} to ${valueWords(e.value, unit)}`
}
