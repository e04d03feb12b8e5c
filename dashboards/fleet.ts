/** Fleet overview: how the whole fleet is doing, and whether the pipeline keeps up with it. */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as common from '@grafana/grafana-foundation-sdk/common'
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat'
import { PanelBuilder as BarGaugePanel } from '@grafana/grafana-foundation-sdk/bargauge'
import { PanelBuilder as HistogramPanel } from '@grafana/grafana-foundation-sdk/histogram'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'
import { measurements as m, tagKeys as t } from '../domain/index.ts'
import { cond, select, selectFrom } from './influxql.ts'
import { type Ctx, dashboardUids, healthStatuses, healthThresholds, numberPanels, pipelineStages, slaStates, target } from './common.ts'

const lastValue = () => new common.ReduceDataOptionsBuilder().calcs(['lastNotNull'])

/** The newest overall health point of each device in range: the unit the fleet panels count. */
const latestOverall = () =>
  select(m.health).agg('last', 'score', 'score').agg('last', 'status', 'status').where(cond.eq(t.component, 'overall')).groupBy(t.device, t.type)

export function fleetDashboard(ctx: Ctx): dashboard.Dashboard {
  const devicesByStatus = new BarGaugePanel()
    .title('Devices by status')
    .description('Devices whose newest health status in the time range is each status.')
    .datasource(ctx.ds)
    .span(8)
    .height(8)
    .displayMode(common.BarGaugeDisplayMode.Basic)
    .reduceOptions(lastValue())
    .targets(
      healthStatuses.map((status, i) =>
        target(ctx, String.fromCharCode(65 + i), selectFrom(m.health, latestOverall()).agg('count', 'status', 'devices').where(cond.eq('status', status)), { alias: status }),
      ),
    )

  const devicesReporting = new StatPanel()
    .title('Devices reporting')
    .description('Devices with at least one health record in the time range.')
    .datasource(ctx.ds)
    .span(4)
    .height(8)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(lastValue())
    .withTarget(target(ctx, 'A', selectFrom(m.health, latestOverall()).agg('count', 'score', 'devices')))

  const healthDistribution = new HistogramPanel()
    .title('Health distribution')
    .description('Newest overall health score of each device (0 failed … 100 as new).')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .bucketSize(10)
    .min(0)
    .max(100)
    .withTarget(target(ctx, 'A', select(m.health).agg('last', 'score', 'score').where(cond.eq(t.component, 'overall')).groupBy(t.device), { format: 'table' }))

  // A warning episode is active when its newest event is not `cleared`.
  const latestWarningEvent = select(m.warnings).agg('last', 'episode_id', 'episode_id').column(t.event).groupBy(t.device, t.faultCode, t.type)
  const activeWarnings = new BarGaugePanel()
    .title('Active warnings by fault code and appliance type')
    .datasource(ctx.ds)
    .span(12)
    .height(9)
    .displayMode(common.BarGaugeDisplayMode.Gradient)
    .orientation(common.VizOrientation.Horizontal)
    .reduceOptions(lastValue())
    .withTarget(
      target(ctx, 'A', selectFrom(m.warnings, latestWarningEvent).agg('count', 'episode_id', 'active').where(cond.ne(t.event, 'cleared')).groupBy(t.type, t.faultCode), {
        alias: '$tag_type $tag_fault_code',
      }),
    )

  const latestTicketState = select(m.tickets).agg('last', 'ticket_id', 'ticket_id').agg('last', 'sla_state', 'sla_state').groupBy(t.device, t.faultCode)
  const ticketsBySla = new StatPanel()
    .title('Tickets by SLA state')
    .description('Tickets whose newest SLA state in the time range is on time, at risk or breached.')
    .datasource(ctx.ds)
    .span(12)
    .height(9)
    .graphMode(common.BigValueGraphMode.None)
    .colorMode(common.BigValueColorMode.Background)
    .reduceOptions(lastValue())
    .targets(
      slaStates.map((state, i) =>
        target(ctx, String.fromCharCode(65 + i), selectFrom(m.tickets, latestTicketState).agg('count', 'ticket_id', 'tickets').where(cond.eq('sla_state', state)), { alias: state }),
      ),
    )

  const readingsPerSecond = new TimeseriesPanel()
    .title('Readings per second')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .unit('reqps')
    .withTarget(
      target(
        ctx,
        'A',
        select(m.pipeline).expr('sum("accepted") * 1000 / $__interval_ms', 'readings_per_s').where(cond.eq(t.stage, pipelineStages.ingest)).groupByTime().fill(0),
        { alias: 'accepted' },
      ),
    )

  const refusals = new TimeseriesPanel()
    .title('Refusals')
    .description('Readings refused (and dead-lettered) per interval, by pipeline stage.')
    .datasource(ctx.ds)
    .span(12)
    .height(8)
    .drawStyle(common.GraphDrawStyle.Bars)
    .withTarget(target(ctx, 'A', select(m.pipeline).agg('sum', 'rejected', 'rejected').groupByTime().groupBy(t.stage).fill('none'), { alias: '$tag_stage' }))

  const healthByType = new TimeseriesPanel()
    .title('Mean health by appliance type')
    .datasource(ctx.ds)
    .span(24)
    .height(8)
    .min(0)
    .max(100)
    .thresholds(healthThresholds())
    .withTarget(target(ctx, 'A', select(m.health).agg('mean', 'score').where(cond.eq(t.component, 'overall')).groupByTime().groupBy(t.type).fill('none'), { alias: '$tag_type' }))

  const b = new dashboard.DashboardBuilder('Forewarn · Fleet overview')
    .uid(dashboardUids.fleet)
    .tags(['forewarn'])
    .editable()
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(new dashboard.DashboardLinkBuilder('Forewarn').type(dashboard.DashboardLinkType.Dashboards).tags(['forewarn']).asDropdown(true).keepTime(true))
    .withPanel(devicesByStatus)
    .withPanel(devicesReporting)
    .withPanel(healthDistribution)
    .withPanel(activeWarnings)
    .withPanel(ticketsBySla)
    .withPanel(readingsPerSecond)
    .withPanel(refusals)
    .withPanel(healthByType)
  return numberPanels(b.build())
}
