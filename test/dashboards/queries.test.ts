/**
 * Every panel, annotation and variable query of every dashboard, with Grafana's macros and
 * variables substituted as Grafana would, runs against a real InfluxDB 1.6 after a short
 * simulated run through the real pipeline (pipeline-run.ts), and must return data. A query that
 * returns nothing fails the test with the dashboard and panel title.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import { applianceSpec, applianceTypes, catalogue, type ApplianceType } from '../../domain/index.ts'
import { buildDashboards, dashboardUids } from '../../dashboards/index.ts'
import { describeService } from '../services/availability.ts'
import { startInfluxDB, type InfluxDBService } from '../services/influxdb.ts'
import { runPipeline, type PipelineRun } from './pipeline-run.ts'
import { interpolate, type QueryContext, type VariableValue } from './grafana-macros.ts'
import { panelsOf, targetsOf } from './walk.ts'

/** Lower bounds, so a walk that silently skips panels fails. */
const expectedChecks: Record<string, number> = {
  [dashboardUids.fleet]: 13,
  [dashboardUids.type]: 4 * 5 * 8,
  [dashboardUids.device]: 4 * 10,
  [dashboardUids.pipeline]: 9,
}

interface Check {
  where: string
  query: string
  variables: Record<string, VariableValue>
}

/** Every query of a dashboard, with the variable values a service engineer would pick. */
function checks(uid: string, d: dashboard.Dashboard, data: PipelineRun): Check[] {
  const out: Check[] = []
  const add = (where: string, query: string, variables: Record<string, VariableValue>) => out.push({ where: `${uid} / ${where}`, query, variables })
  const deviceOf = (type: ApplianceType) => data.devices.find((x) => x.type === type)?.id as string
  const contexts: { label: string; variables: Record<string, VariableValue>; rowType?: ApplianceType }[] = []
  if (uid === dashboardUids.type) {
    for (const type of applianceTypes) {
      contexts.push({ label: `type=${type}, model=All`, variables: { type, model: { all: '.*' } } })
      contexts.push({ label: `type=${type}, model=${catalogue[type].models.join('+')}`, variables: { type, model: { multi: catalogue[type].models } } })
      for (const model of catalogue[type].models) contexts.push({ label: `type=${type}, model=${model}`, variables: { type, model: { multi: [model] } } })
    }
  } else if (uid === dashboardUids.device) {
    for (const type of applianceTypes) contexts.push({ label: `device=${deviceOf(type)}`, variables: { device: deviceOf(type), type }, rowType: type })
  } else {
    contexts.push({ label: 'no variables', variables: {} })
  }
  for (const c of contexts) {
    for (const { panel, row } of panelsOf(d)) {
      // A type's metric row has data for devices of that type only, as in Grafana.
      if (row !== null && c.rowType !== undefined && row.title !== `${applianceSpec(c.rowType).name} metrics`) continue
      for (const t of targetsOf(panel)) add(`${panel.title} [${t.refId}] (${c.label})`, t.query, c.variables)
    }
    for (const a of d.annotations.list ?? []) add(`annotation ${a.name} (${c.label})`, (a.target as unknown as { query: string }).query, c.variables)
    for (const v of d.templating.list ?? []) add(`variable $${v.name} (${c.label})`, v.query as string, c.variables)
  }
  return out
}

/** Runs each check; returns "where: why" for every query that errs or returns no rows. */
async function emptyQueries(db: InfluxDBService, data: PipelineRun, list: readonly Check[]): Promise<string[]> {
  const empty: string[] = []
  for (const c of list) {
    const ctx: QueryContext = { fromMs: data.fromMs, toMs: data.toMs, variables: c.variables }
    const rows = await db.query(interpolate(c.query, ctx)).catch((err: Error) => {
      empty.push(`${c.where}: error ${err.message}`)
      return null
    })
    if (rows !== null && rows.length === 0) empty.push(`${c.where}: no data`)
  }
  return empty
}

describeService('influxdb', 'dashboard queries against a real InfluxDB 1.6', () => {
  let db: InfluxDBService
  let data: PipelineRun

  beforeAll(async () => {
    db = await startInfluxDB({ database: 'forewarn' })
    data = await runPipeline(db)
  }, 120_000)
  afterAll(async () => {
    await data?.stop()
    await db?.stop()
  })

  for (const uid of Object.values(dashboardUids)) {
    it(`${uid}: every query returns data`, async () => {
      const d = buildDashboards()[uid] as dashboard.Dashboard
      const list = checks(uid, d, data)
      expect(list.length).toBeGreaterThan(expectedChecks[uid] ?? 0)
      expect(await emptyQueries(db, data, list)).toEqual([])
    })
  }

  it('reports a query that returns nothing, or fails, with its panel title', async () => {
    const list: Check[] = [
      { where: 'x / Device from another fleet', query: `SELECT last("score") FROM "health" WHERE "device_id" = '$device' AND $timeFilter`, variables: { device: 'nobody' } },
      { where: 'x / Broken', query: 'SELECT FROM', variables: {} },
    ]
    const found = await emptyQueries(db, data, list)
    expect(found[0]).toBe('x / Device from another fleet: no data')
    expect(found[1]).toMatch(/^x \/ Broken: error /)
    expect(found).toHaveLength(2)
  })

  it('status, SLA and active-warning panels count what the fleet holds', async () => {
    const ctx: QueryContext = { fromMs: data.fromMs, toMs: data.toMs, variables: {} }
    const fleet = buildDashboards()[dashboardUids.fleet] as dashboard.Dashboard
    const panel = (title: string) => panelsOf(fleet).find(({ panel: p }) => p.title === title)?.panel as dashboard.Panel
    const counts = async (title: string) => Promise.all(targetsOf(panel(title)).map(async (t) => (await db.query(interpolate(t.query, ctx))).map((r) => r[Object.keys(r).at(-1) as string])))
    // Repaired appliances relearn their baseline (healthy), with the healthy one: 10; the drifting
    // water heater is on watch; the acknowledged air conditioner warns; the unconfirmed
    // refrigerator and the air conditioner found "no fault" stay critical; one went offline.
    expect(await counts('Devices by status')).toEqual([[10], [1], [1], [2], [1]])
    expect(await counts('Devices reporting')).toEqual([[data.devices.length]])
    // 10 tickets closed in time, one acknowledged late in its planning window, one never confirmed.
    expect(await counts('Tickets by SLA state')).toEqual([[10], [1], [1]])
    // A repair clears the warnings it fixed; "no fault found" and open tickets keep theirs.
    const active = await db.query(interpolate(targetsOf(panel('Active warnings by fault code and appliance type'))[0]?.query as string, ctx))
    expect(active.map((r) => `${r.type as string} ${r.fault_code as string} ${r.active as number}`)).toEqual(['air_conditioner AC-OFAN 2', 'refrigerator REF-CMPW 1'])
  })
})
