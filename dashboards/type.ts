/** Appliance type: how one type (and model) ages, which faults it shows, and how often tickets were right. */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as common from '@grafana/grafana-foundation-sdk/common'
import { PanelBuilder as BarGaugePanel } from '@grafana/grafana-foundation-sdk/bargauge'
import { PanelBuilder as HistogramPanel } from '@grafana/grafana-foundation-sdk/histogram'
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'
import { measurements as m, tagKeys as t } from '../domain/index.ts'
import { cond, select } from './influxql.ts'
import { type Ctx, dashboardUids, healthThresholds, numberPanels, tagVariable, target } from './common.ts'

/** Ticket states that close a ticket after a visit: repaired, or closed as "no fault found". */
/** Ticket outcomes (the `outcome` field of resolved tickets): a confirmed fault versus a wasted visit. */
export const ticketOutcome = { confirmed: ['part_replaced', 'repaired'], noFaultFound: 'no_fault_found' } as const

export function typeDashboard(ctx: Ctx): dashboard.Dashboard {
  const scope = [cond.matchesVar(t.type, 'type'), cond.matchesVar(t.model, 'model')]

  const healthOverTime = new TimeseriesPanel()
    .title('Health over time by model')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .min(0)
    .max(100)
    .thresholds(healthThresholds())
    .withTarget(target(ctx, 'A', select(m.health).agg('mean', 'score').where(cond.eq(t.component, 'overall'), ...scope).groupByTime().groupBy(t.model).fill('none'), { alias: '$tag_model' }))

  const componentHealth = new TimeseriesPanel()
    .title('Component health')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .min(0)
    .max(100)
    .withTarget(
      target(ctx, 'A', select(m.health).agg('mean', 'score').where(cond.ne(t.component, 'overall'), ...scope).groupByTime().groupBy(t.component).fill('none'), { alias: '$tag_component' }),
    )

  const faultRate = new TimeseriesPanel()
    .title('Fault rate: warnings raised per interval')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .drawStyle(common.GraphDrawStyle.Bars)
    .withTarget(
      target(ctx, 'A', select(m.warnings).agg('count', 'episode_id').where(cond.eq(t.event, 'raised'), ...scope).groupByTime().groupBy(t.faultCode).fill('none'), {
        alias: '$tag_fault_code',
      }),
    )

  const faultTotals = new BarGaugePanel()
    .title('Warnings raised by fault code')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .orientation(common.VizOrientation.Horizontal)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .withTarget(target(ctx, 'A', select(m.warnings).agg('count', 'episode_id', 'raised').where(cond.eq(t.event, 'raised'), ...scope).groupBy(t.faultCode), { alias: '$tag_fault_code' }))

  const rulDistribution = new HistogramPanel()
    .title('Remaining-life distribution (hours)')
    .description('Newest median remaining-life estimate of each device and fault code that has one.')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .unit('h')
    .withTarget(target(ctx, 'A', select(m.warnings).agg('last', 'rul_hours_median', 'rul_hours').where(...scope).groupBy(t.device, t.faultCode), { format: 'table' }))

  // Precision = repaired / (repaired + no fault found); both counts per fault code, joined by Grafana.
  const closed = [...ticketOutcome.confirmed, ticketOutcome.noFaultFound]
  const precision = new TablePanel()
    .title('Precision per fault code (ticket outcomes)')
    .description('Resolved tickets whose visit confirmed the fault (part replaced or repaired) versus all resolved with a verdict, "no fault found" included; precision = confirmed / verdicts.')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .targets([
      target(ctx, 'A', select(m.tickets).agg('count', 'ticket_id', 'repaired').where(cond.oneOf('outcome', ticketOutcome.confirmed), cond.matchesVar(t.type, 'type')).groupBy(t.faultCode), {
        format: 'table',
      }),
      target(ctx, 'B', select(m.tickets).agg('count', 'ticket_id', 'closed').where(cond.oneOf('outcome', closed), cond.matchesVar(t.type, 'type')).groupBy(t.faultCode), { format: 'table' }),
    ])
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({ id: 'calculateField', options: { mode: 'binary', alias: 'precision', binary: { left: 'repaired', operator: '/', right: 'closed' } } })

  const b = new dashboard.DashboardBuilder('Forewarn · Appliance type')
    .uid(dashboardUids.type)
    .tags(['forewarn'])
    .editable()
    .time({ from: 'now-7d', to: 'now' })
    .refresh('5m')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(new dashboard.DashboardLinkBuilder('Forewarn').type(dashboard.DashboardLinkType.Dashboards).tags(['forewarn']).asDropdown(true).keepTime(true))
    .withVariable(tagVariable(ctx, 'type', 'Appliance type', `SHOW TAG VALUES FROM "${m.health}" WITH KEY = "${t.type}"`))
    .withVariable(tagVariable(ctx, 'model', 'Model', `SHOW TAG VALUES FROM "${m.health}" WITH KEY = "${t.model}" WHERE "${t.type}" =~ /^$type$/`, { multi: true }))
    .withPanel(healthOverTime)
    .withPanel(componentHealth)
    .withPanel(faultRate)
    .withPanel(faultTotals)
    .withPanel(rulDistribution)
    .withPanel(precision)
  return numberPanels(b.build())
}
