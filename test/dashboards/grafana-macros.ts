/**
 * Grafana's InfluxQL interpolation, for running panel queries outside Grafana: the time macros
 * ($timeFilter, $__interval, $__interval_ms) and template variables. A single value is inserted
 * as is; a multi-value selection becomes a regex group of escaped values, as Grafana's InfluxDB
 * data source does; "All" with an allValue inserts that value. An unknown `$name` is an error.
 */

export type VariableValue = string | { multi: readonly string[] } | { all: string }

export interface QueryContext {
  fromMs: number
  toMs: number
  /** Grafana's maxDataPoints (roughly the panel width in pixels). */
  maxDataPoints?: number
  /** The data source's minimum interval (`timeInterval` in the provisioning file). */
  minIntervalMs?: number
  variables: Readonly<Record<string, VariableValue>>
}

// Grafana's rangeutil.roundInterval: [below this raw interval, round to this], from 10 s up.
const roundTable: readonly (readonly [number, number])[] = [
  [12_500, 10_000], [17_500, 15_000], [25_000, 20_000], [45_000, 30_000], [90_000, 60_000], [210_000, 120_000],
  [450_000, 300_000], [750_000, 600_000], [1_050_000, 900_000], [1_500_000, 1_200_000], [2_700_000, 1_800_000],
  [5_400_000, 3_600_000], [9_000_000, 7_200_000], [16_200_000, 10_800_000], [32_400_000, 21_600_000], [86_400_000, 43_200_000],
]

export function intervalMs(ctx: QueryContext): number {
  const raw = Math.max((ctx.toMs - ctx.fromMs) / (ctx.maxDataPoints ?? 1000), ctx.minIntervalMs ?? 10_000)
  return roundTable.find(([below]) => raw < below)?.[1] ?? 86_400_000
}

function influxDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

const escapeRegex = (s: string) => s.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&')

export function interpolate(query: string, ctx: QueryContext): string {
  const interval = intervalMs(ctx)
  const builtins: Record<string, string> = {
    timeFilter: `time >= ${Math.trunc(ctx.fromMs)}ms and time <= ${Math.trunc(ctx.toMs)}ms`,
    __interval: influxDuration(interval),
    __interval_ms: String(interval),
  }
  return query.replace(/\$(\w+)/g, (_, name: string) => {
    const b = builtins[name]
    if (b !== undefined) return b
    const v = ctx.variables[name]
    if (v === undefined) throw new Error(`query uses $${name}, which has no value: ${query}`)
    if (typeof v === 'string') return v
    if ('all' in v) return v.all
    return v.multi.length === 1 ? escapeRegex(v.multi[0] as string) : `(${v.multi.map(escapeRegex).join('|')})`
  })
}
