import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import { applianceTypes, catalogue, ErrorCode } from '../../domain/index.ts'
import { buildDashboards, dashboardUids, defaultDatasourceUid, deviceDashboardUrl, runDashboards } from '../../dashboards/index.ts'
import { panelsOf, targetsOf } from './walk.ts'

const generated = fileURLToPath(new URL('../../dashboards/generated', import.meta.url))

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort()
}

const temps: string[] = []
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'forewarn-dashboards-'))
  temps.push(dir)
  return dir
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true })
})

describe('generated dashboards are reproducible', () => {
  it('regenerating gives exactly the committed files under dashboards/generated (run `npx tsx dashboards/generate.ts` after a change)', async () => {
    const out = temp()
    const { files } = await runDashboards({ out })
    expect(files.map((f) => relative(out, f)).sort()).toEqual(filesUnder(generated))
    for (const f of filesUnder(generated)) expect(readFileSync(join(out, f), 'utf8'), f).toBe(readFileSync(join(generated, f), 'utf8'))
  })

  it('writes the Grafana provisioning layout with one bare dashboard object per JSON file', async () => {
    const out = temp()
    await runDashboards({ out, datasourceUid: 'my-influx', influxUrl: 'https://influx.example:8086' })
    expect(filesUnder(out)).toEqual([
      'dashboards/forewarn.yaml',
      'dashboards/forewarn/forewarn-device.json',
      'dashboards/forewarn/forewarn-fleet.json',
      'dashboards/forewarn/forewarn-pipeline.json',
      'dashboards/forewarn/forewarn-type.json',
      'datasources/forewarn.yaml',
    ])
    const fleet = JSON.parse(readFileSync(join(out, 'dashboards/forewarn/forewarn-fleet.json'), 'utf8')) as dashboard.Dashboard
    expect(fleet.uid).toBe('forewarn-fleet')
    expect(panelsOf(fleet).every(({ panel }) => panel.datasource?.uid === 'my-influx')).toBe(true)
  })
})

describe('provisioning files', () => {
  it('parse as YAML and point Grafana at InfluxQL on the given URL, with the dashboards uid', async () => {
    const out = temp()
    await runDashboards({ out, datasourceUid: 'fw-ds', influxUrl: 'http://10.0.0.5:8086', database: 'fleet' })
    const ds = parseYaml(readFileSync(join(out, 'datasources/forewarn.yaml'), 'utf8'))
    expect(ds).toEqual({
      apiVersion: 1,
      datasources: [
        {
          name: 'Forewarn InfluxDB',
          uid: 'fw-ds',
          type: 'influxdb',
          access: 'proxy',
          url: 'http://10.0.0.5:8086',
          isDefault: false,
          editable: false,
          jsonData: { version: 'InfluxQL', dbName: 'fleet', httpMode: 'GET', timeInterval: '10s' },
        },
      ],
    })
    const provider = parseYaml(readFileSync(join(out, 'dashboards/forewarn.yaml'), 'utf8'))
    expect(provider).toEqual({
      apiVersion: 1,
      providers: [
        {
          name: 'forewarn',
          orgId: 1,
          folder: 'Forewarn',
          folderUid: 'forewarn',
          type: 'file',
          disableDeletion: false,
          allowUiUpdates: false,
          updateIntervalSeconds: 60,
          options: { path: '/etc/grafana/provisioning/dashboards/forewarn', foldersFromFilesStructure: false },
        },
      ],
    })
  })

  it('refuses a bad data source uid or InfluxDB URL with a configuration error', async () => {
    await expect(runDashboards({ out: temp(), datasourceUid: 'has space' })).rejects.toMatchObject({ code: ErrorCode.CONFIG })
    await expect(runDashboards({ out: temp(), datasourceUid: 'x'.repeat(41) })).rejects.toMatchObject({ code: ErrorCode.CONFIG })
    await expect(runDashboards({ out: temp(), influxUrl: 'not a url' })).rejects.toMatchObject({ code: ErrorCode.CONFIG })
    await expect(runDashboards({ out: temp(), influxUrl: 'ftp://host' })).rejects.toMatchObject({ code: ErrorCode.CONFIG })
  })
})

describe('dashboard JSON against the classic dashboard schema (SDK types)', () => {
  const all = buildDashboards()

  it('has the four dashboards under their stable uids', () => {
    expect(Object.keys(all)).toEqual([dashboardUids.fleet, dashboardUids.type, dashboardUids.device, dashboardUids.pipeline])
    for (const [uid, d] of Object.entries(all)) {
      expect(d.uid).toBe(uid)
      expect(d.title).toMatch(/^Forewarn · /)
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36)
      expect(d.templating).toBeTypeOf('object')
      expect(d.annotations).toBeTypeOf('object')
      expect(d.time).toEqual({ from: expect.stringMatching(/^now-/), to: 'now' })
    }
  })

  for (const [uid, d] of Object.entries(buildDashboards())) {
    it(`${uid}: every panel has a unique id, a type, a title, an InfluxDB data source, InfluxQL targets and a grid position`, () => {
      const ids = (d.panels ?? []).flatMap((p) => [p.id, ...(p.type === 'row' ? (p as dashboard.RowPanel).panels.map((i) => i.id) : [])])
      expect(ids.every((i) => Number.isInteger(i) && (i as number) > 0)).toBe(true)
      expect(new Set(ids).size).toBe(ids.length)
      for (const { panel } of panelsOf(d)) {
        const where = `${uid} / ${panel.title}`
        expect(panel.type, where).toMatch(/^(timeseries|stat|bargauge|table|histogram)$/)
        expect(panel.title, where).toBeTruthy()
        expect(panel.datasource, where).toEqual({ type: 'influxdb', uid: defaultDatasourceUid })
        const g = panel.gridPos as dashboard.GridPos
        expect(g.w > 0 && g.h > 0 && g.x >= 0 && g.y >= 0 && g.x + g.w <= 24, where).toBe(true)
        const targets = targetsOf(panel)
        expect(targets.length, where).toBeGreaterThan(0)
        expect(new Set(targets.map((t) => t.refId)).size, where).toBe(targets.length)
        for (const t of targets) {
          expect(t.datasource, where).toEqual(panel.datasource)
          expect(t.rawQuery, where).toBe(true)
          expect(t.query, where).toMatch(/^SELECT .* FROM .*\$timeFilter/)
          expect(['time_series', 'table'], where).toContain(t.resultFormat)
        }
      }
      for (const a of d.annotations.list ?? []) {
        expect(a.name && a.enable && a.iconColor).toBeTruthy()
        expect(a.datasource).toEqual({ type: 'influxdb', uid: defaultDatasourceUid })
        expect((a.target as unknown as { query: string }).query).toMatch(/^SELECT .*\$timeFilter/)
      }
      for (const v of d.templating.list ?? []) {
        expect(v.type).toBe('query')
        expect(v.datasource).toEqual({ type: 'influxdb', uid: defaultDatasourceUid })
        expect(v.query).toMatch(/^SHOW TAG VALUES FROM /)
      }
    })
  }

  it('device detail has a row per catalogue type with a time series per metric, and warning and ticket annotations', () => {
    const d = all[dashboardUids.device] as dashboard.Dashboard
    const rows = (d.panels ?? []).filter((p) => p.type === 'row') as dashboard.RowPanel[]
    expect(rows.map((r) => r.title)).toEqual(applianceTypes.map((t) => `${catalogue[t].name} metrics`))
    applianceTypes.forEach((type, i) => {
      const panels = (rows[i] as dashboard.RowPanel).panels
      expect(panels.map((p) => p.type)).toEqual(catalogue[type].metrics.map(() => 'timeseries'))
      expect(panels.map((p) => targetsOf(p)[0]?.query)).toEqual(
        catalogue[type].metrics.map((m) => `SELECT mean("${m.name}") FROM "telemetry" WHERE "device_id" = '$device' AND "type" = '${type}' AND $timeFilter GROUP BY time($__interval) fill(none)`),
      )
    })
    expect((d.annotations.list ?? []).map((a) => a.name)).toEqual(['Warnings', 'Tickets'])
    expect((d.templating.list ?? []).map((v) => v.name)).toEqual(['device', 'type'])
  })

  it('type dashboard has the type and model variables', () => {
    const d = all[dashboardUids.type] as dashboard.Dashboard
    expect((d.templating.list ?? []).map((v) => [v.name, v.multi ?? false, v.includeAll ?? false])).toEqual([
      ['type', false, false],
      ['model', true, true],
    ])
  })
})

describe('deviceDashboardUrl', () => {
  it('opens the device dashboard by stable uid with the device and time range set', () => {
    expect(deviceDashboardUrl('https://grafana.example/', 'ref-0001', 1700000000000, 1700086400000)).toBe(
      'https://grafana.example/d/forewarn-device/forewarn-device-detail?var-device=ref-0001&from=1700000000000&to=1700086400000',
    )
  })

  it('encodes device ids and keeps a sub-path', () => {
    expect(deviceDashboardUrl('http://h:3000/grafana', 'a b&c', 1.9, 2.2)).toBe('http://h:3000/grafana/d/forewarn-device/forewarn-device-detail?var-device=a+b%26c&from=1&to=2')
  })
})
