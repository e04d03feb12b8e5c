/** Pieces every Forewarn dashboard shares: data source reference, targets, uids, variables. */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import type * as common from '@grafana/grafana-foundation-sdk/common'
import type * as cog from '@grafana/grafana-foundation-sdk/cog'
import type { HealthStatus } from '../domain/index.ts'
import { InfluxQLQueryBuilder, type ResultFormat } from './influxql.ts'

export const defaultDatasourceUid = 'forewarn-influxdb'

/** Stable uids: ticket links and bookmarks keep working across regenerations. */
export const dashboardUids = {
  fleet: 'forewarn-fleet',
  type: 'forewarn-type',
  device: 'forewarn-device',
  pipeline: 'forewarn-pipeline',
} as const

export const healthStatuses: readonly HealthStatus[] = ['healthy', 'watch', 'warning', 'critical', 'offline']

/** Values of the tickets `sla_state` field (docs/dashboards.md; the ticket sink writes these). */
export const slaStates = ['on_time', 'at_risk', 'breached'] as const

/**
 * Pipeline `stage` tag values the dashboards rely on by name. Other panels group by stage, so any
 * further stage shows up without a dashboard change.
 */
export const pipelineStages = { ingest: 'ingest', sink: 'sink', delivery: 'delivery' } as const

export function influxRef(uid: string): common.DataSourceRef {
  return { type: 'influxdb', uid }
}

/** Built per dashboard with the data source ref, so each query names its source like the panel. */
export interface Ctx {
  ds: common.DataSourceRef
}

export function target(
  ctx: Ctx,
  refId: string,
  statement: cog.Builder<string>,
  opts: { alias?: string; format?: ResultFormat } = {},
): InfluxQLQueryBuilder {
  const q = new InfluxQLQueryBuilder().refId(refId).datasource(ctx.ds).query(statement).resultFormat(opts.format ?? 'time_series')
  if (opts.alias !== undefined) q.alias(opts.alias)
  return q
}

/** Green above 80, orange from 50, red below: the health-score colouring everywhere. */
export function healthThresholds(): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
    { value: null, color: 'red' },
    { value: 50, color: 'orange' },
    { value: 80, color: 'green' },
  ])
}

/**
 * Panel ids in layout order, rows' nested panels included: deterministic output, and ids unique
 * within the dashboard as Grafana requires.
 */
export function numberPanels(d: dashboard.Dashboard): dashboard.Dashboard {
  let id = 1
  for (const p of d.panels ?? []) {
    p.id = id++
    if (p.type === 'row') for (const inner of (p as dashboard.RowPanel).panels) inner.id = id++
  }
  return d
}

/** A query variable over InfluxDB tag values; `regex`-style use in queries (`=~ /^$name$/`). */
export function tagVariable(
  ctx: Ctx,
  name: string,
  label: string,
  query: string,
  opts: { multi?: boolean } = {},
): dashboard.QueryVariableBuilder {
  const v = new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(ctx.ds)
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
  if (opts.multi === true) v.multi(true).includeAll(true).allValue('.*')
  return v
}
