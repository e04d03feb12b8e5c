/** Helpers to walk a generated dashboard the way Grafana lays it out. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import type { InfluxQLQuery } from '../../dashboards/influxql.ts'

export type AnyPanel = dashboard.Panel | dashboard.RowPanel

/** Top-level panels and the panels nested in (collapsed) rows, each with the row it sits in. */
export function panelsOf(d: dashboard.Dashboard): { panel: dashboard.Panel; row: dashboard.RowPanel | null }[] {
  const out: { panel: dashboard.Panel; row: dashboard.RowPanel | null }[] = []
  for (const p of d.panels ?? []) {
    if (p.type === 'row') for (const inner of (p as dashboard.RowPanel).panels) out.push({ panel: inner, row: p as dashboard.RowPanel })
    else out.push({ panel: p as dashboard.Panel, row: null })
  }
  return out
}

export function targetsOf(p: dashboard.Panel): InfluxQLQuery[] {
  return (p.targets ?? []) as unknown as InfluxQLQuery[]
}
