/**
 * Device detail: one appliance's health record. Health, components and remaining life on top;
 * then one row per appliance type in the catalogue with a time series per metric, so a new type
 * gets its panels from its catalogue entry. Only the row of the device's own type has data; the
 * `type` variable (read from the device's series) says which one to open.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as common from '@grafana/grafana-foundation-sdk/common'
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat'
import { PanelBuilder as BarGaugePanel } from '@grafana/grafana-foundation-sdk/bargauge'
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'
import { applianceSpec, loadedTypes, measurements as m, tagKeys as t, type ApplianceSpec, type MetricSpec } from '../domain/index.ts'
import { cond, select, type InfluxQLQueryBuilder } from './influxql.ts'
import { type Ctx, dashboardUids, healthThresholds, numberPanels, tagVariable, target } from './common.ts'

const thisDevice = cond.eq(t.device, '$device')

/** Catalogue units → Grafana unit ids; anything else is shown as a suffix. */
const grafanaUnits: Readonly<Record<string, string>> = { '°C': 'celsius', A: 'amp', bar: 'pressurebar', Pa: 'pressurepa', rpm: 'rotrpm', mV: 'mvolt', L: 'litre', kg: 'masskg', 'mm/s': 'velocitymms', 'L/min': 'flowlpm' }

function metricPanel(ctx: Ctx, spec: ApplianceSpec, metric: MetricSpec): TimeseriesPanel {
  const p = new TimeseriesPanel()
    .title(`${metric.name} (${metric.unit})`)
    .description(`${metric.description}; normal range ${metric.normal[0]} … ${metric.normal[1]} ${metric.unit}.`)
    .datasource(ctx.ds)
    .span(8)
    .height(7)
    .withTarget(target(ctx, 'A', select(m.telemetry).agg('mean', metric.name).where(thisDevice, cond.eq(t.type, spec.type)).groupByTime().fill('none'), { alias: metric.name }))
  const unit = grafanaUnits[metric.unit]
  if (unit !== undefined) p.unit(unit)
  else if (metric.unit === 'bool' || metric.unit === 'enum') p.drawStyle(common.GraphDrawStyle.Line).lineInterpolation(common.LineInterpolation.StepAfter)
  return p
}

function typeRow(ctx: Ctx, spec: ApplianceSpec): dashboard.RowBuilder {
  const row = new dashboard.RowBuilder(`${spec.name} metrics`).collapsed(true)
  for (const metric of spec.metrics) row.withPanel(metricPanel(ctx, spec, metric))
  return row
}

function annotations(ctx: Ctx): dashboard.AnnotationQueryBuilder[] {
  const warnings = select(m.warnings).column('message').column(t.faultCode).column(t.severity).column(t.event).where(thisDevice)
  const tickets = select(m.tickets).column('ticket_id').column('state').column('sla_state').column(t.event).column(t.priority).where(thisDevice)
  const anno = (name: string, color: string, query: InfluxQLQueryBuilder) =>
    new dashboard.AnnotationQueryBuilder().name(name).datasource(ctx.ds).enable(true).iconColor(color).target(query)
  return [
    anno('Warnings', 'orange', target(ctx, 'Anno', warnings).annotation({ text: 'message', tags: [t.faultCode, t.severity, t.event] })),
    anno('Tickets', 'blue', target(ctx, 'Anno', tickets).annotation({ text: 'ticket_id', tags: [t.event, 'state', 'sla_state', t.priority] })),
  ]
}

export function deviceDashboard(ctx: Ctx): dashboard.Dashboard {
  const health = new StatPanel()
    .title('Health score')
    .datasource(ctx.ds)
    .span(4)
    .height(6)
    .min(0)
    .max(100)
    .thresholds(healthThresholds())
    .colorMode(common.BigValueColorMode.Background)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .withTarget(target(ctx, 'A', select(m.health).agg('last', 'score', 'score').where(thisDevice, cond.eq(t.component, 'overall'))))

  const status = new StatPanel()
    .title('Status')
    .datasource(ctx.ds)
    .span(4)
    .height(6)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('/^status$/'))
    .withTarget(target(ctx, 'A', select(m.health).agg('last', 'status', 'status').where(thisDevice, cond.eq(t.component, 'overall'))))

  const components = new BarGaugePanel()
    .title('Component scores')
    .datasource(ctx.ds)
    .span(8)
    .height(6)
    .min(0)
    .max(100)
    .thresholds(healthThresholds())
    .orientation(common.VizOrientation.Horizontal)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .withTarget(target(ctx, 'A', select(m.health).agg('last', 'score', 'score').where(thisDevice, cond.ne(t.component, 'overall')).groupBy(t.component), { alias: '$tag_component' }))

  // The detector attaches its remaining-life estimate to warnings (the sink writes it there).
  const rul = new TablePanel()
    .title('Remaining life estimate (hours)')
    .description('Newest median remaining-useful-life estimate per fault code that has one.')
    .datasource(ctx.ds)
    .span(8)
    .height(6)
    .unit('h')
    .withTarget(target(ctx, 'A', select(m.warnings).agg('last', 'rul_hours_median', 'median_hours').where(thisDevice).groupBy(t.faultCode), { format: 'table' }))

  const healthOverTime = new TimeseriesPanel()
    .title('Health over time')
    .datasource(ctx.ds)
    .span(24)
    .height(8)
    .min(0)
    .max(100)
    .thresholds(healthThresholds())
    .withTarget(target(ctx, 'A', select(m.health).agg('mean', 'score').where(thisDevice).groupByTime().groupBy(t.component).fill('none'), { alias: '$tag_component' }))

  const warnings = new TablePanel()
    .title('Warnings')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .withTarget(
      target(
        ctx,
        'A',
        select(m.warnings).column(t.event).column(t.faultCode).column(t.severity).column('message').column('rul_hours_median').column('episode_id').where(thisDevice).newestFirst().limit(200),
        { format: 'table' },
      ),
    )

  const tickets = new TablePanel()
    .title('Ticket events')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .withTarget(
      target(ctx, 'A', select(m.tickets).column('ticket_id').column(t.event).column('state').column('sla_state').column(t.priority).column(t.faultCode).where(thisDevice).newestFirst().limit(200), {
        format: 'table',
      }),
    )

  const b = new dashboard.DashboardBuilder('Forewarn · Device detail')
    .uid(dashboardUids.device)
    .tags(['forewarn'])
    .editable()
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .tooltip(dashboard.DashboardCursorSync.Tooltip)
    .link(new dashboard.DashboardLinkBuilder('Forewarn').type(dashboard.DashboardLinkType.Dashboards).tags(['forewarn']).asDropdown(true).keepTime(true))
    .withVariable(tagVariable(ctx, 'device', 'Device', `SHOW TAG VALUES FROM "${m.health}" WITH KEY = "${t.device}"`))
    .withVariable(tagVariable(ctx, 'type', 'Type', `SHOW TAG VALUES FROM "${m.health}" WITH KEY = "${t.type}" WHERE "${t.device}" = '$device'`))
    .annotations(annotations(ctx))
    .withPanel(health)
    .withPanel(status)
    .withPanel(components)
    .withPanel(rul)
    .withPanel(healthOverTime)
    .withPanel(warnings)
    .withPanel(tickets)
  for (const type of loadedTypes()) b.withRow(typeRow(ctx, applianceSpec(type)))
  return numberPanels(b.build())
}
