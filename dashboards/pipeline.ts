/**
 * Pipeline: is Forewarn keeping up? Ingest lag, InfluxDB write latency, spool depth, dead letters
 * and the ticket-delivery backlog. Panels group by `stage`, so a new stage appears on its own.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as common from '@grafana/grafana-foundation-sdk/common'
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'
import { measurements as m, tagKeys as t } from '../domain/index.ts'
import { cond, select, type Aggregate, type FieldOf } from './influxql.ts'
import { type Ctx, dashboardUids, numberPanels, pipelineStages, target } from './common.ts'

type PipelineField = FieldOf<typeof m.pipeline>

function byStage(ctx: Ctx, title: string, fn: Aggregate, field: PipelineField, unit: string, description: string): TimeseriesPanel {
  return new TimeseriesPanel()
    .title(title)
    .description(description)
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .unit(unit)
    .withTarget(target(ctx, 'A', select(m.pipeline).agg(fn, field).groupByTime().groupBy(t.stage).fill('none'), { alias: '$tag_stage' }))
}

export function pipelineDashboard(ctx: Ctx): dashboard.Dashboard {
  const lag = byStage(ctx, 'Ingest lag', 'mean', 'lag_ms', 'ms', 'Event time of a reading to the moment it was written, mean per interval.')
  lag.withTarget(target(ctx, 'B', select(m.pipeline).agg('max', 'lag_ms').groupByTime().groupBy(t.stage).fill('none'), { alias: '$tag_stage max' }))

  const writeLatency = byStage(ctx, 'Write latency', 'mean', 'write_ms', 'ms', 'Duration of one write batch to InfluxDB.')
  writeLatency.withTarget(target(ctx, 'B', select(m.pipeline).agg('max', 'write_ms').groupByTime().groupBy(t.stage).fill('none'), { alias: '$tag_stage max' }))

  const spool = byStage(ctx, 'Spool depth', 'last', 'spool_bytes', 'bytes', 'Bytes waiting in the on-disk spool while the database is down or slow.')
  const deadLetters = byStage(ctx, 'Dead letters', 'sum', 'rejected', 'short', 'Readings refused and dead-lettered per interval, and deliveries given up on.')
  deadLetters.drawStyle(common.GraphDrawStyle.Bars)
  const retries = byStage(ctx, 'Retries', 'sum', 'retries', 'short', 'Write and delivery retries per interval.')
  const batch = byStage(ctx, 'Write batch size', 'mean', 'batch_points', 'short', 'Points per write batch.')

  const backlog = new TimeseriesPanel()
    .title('Delivery backlog')
    .description('Ticket deliveries waiting in the outbox (stage "delivery", field batch_points).')
    .datasource(ctx.ds)
    .span(18)
    .height(8)
    .withTarget(
      target(ctx, 'A', select(m.pipeline).agg('last', 'batch_points').where(cond.eq(t.stage, pipelineStages.delivery)).groupByTime().fill('previous'), { alias: 'waiting deliveries' }),
    )
  const backlogNow = new StatPanel()
    .title('Deliveries waiting')
    .datasource(ctx.ds)
    .span(6)
    .height(8)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .withTarget(target(ctx, 'A', select(m.pipeline).agg('last', 'batch_points', 'waiting').where(cond.eq(t.stage, pipelineStages.delivery))))

  const b = new dashboard.DashboardBuilder('Forewarn · Pipeline')
    .uid(dashboardUids.pipeline)
    .tags(['forewarn'])
    .editable()
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(new dashboard.DashboardLinkBuilder('Forewarn').type(dashboard.DashboardLinkType.Dashboards).tags(['forewarn']).asDropdown(true).keepTime(true))
    .withPanel(lag)
    .withPanel(writeLatency)
    .withPanel(spool)
    .withPanel(deadLetters)
    .withPanel(backlog)
    .withPanel(backlogNow)
    .withPanel(retries)
    .withPanel(batch)
  return numberPanels(b.build())
}
