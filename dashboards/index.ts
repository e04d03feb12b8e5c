/**
 * `forewarn dashboards`: Grafana dashboards as code, generated from the appliance catalogue, plus
 * the provisioning files that load them. The output folder is laid out like Grafana's
 * provisioning folder, so it can be copied or mounted there as is (docs/dashboards.md).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import { ErrorCode, ForewarnError } from '../domain/index.ts'
import { type Ctx, dashboardUids, defaultDatasourceUid, influxRef } from './common.ts'
import { fleetDashboard } from './fleet.ts'
import { typeDashboard } from './type.ts'
import { deviceDashboard } from './device.ts'
import { pipelineDashboard } from './pipeline.ts'
import { dashboardProviderYaml, datasourceYaml } from './provisioning.ts'

export { deviceDashboardUrl } from './links.ts'
export { dashboardUids, defaultDatasourceUid } from './common.ts'

export interface DashboardsOptions {
  out: string
  datasourceUid?: string
  influxUrl?: string
  /** InfluxDB database (1.x) or DBRP-mapped database (2.x/3.x). */
  database?: string
  /** Where Grafana reads the JSON files; defaults to the standard provisioning location. */
  dashboardsPath?: string
}

export const defaults = {
  influxUrl: 'http://localhost:8086',
  database: 'forewarn',
  dashboardsPath: '/etc/grafana/provisioning/dashboards/forewarn',
} as const

/** Every dashboard, keyed by its stable uid. */
export function buildDashboards(datasourceUid: string = defaultDatasourceUid): Record<string, dashboard.Dashboard> {
  const ctx: Ctx = { ds: influxRef(datasourceUid) }
  return {
    [dashboardUids.fleet]: fleetDashboard(ctx),
    [dashboardUids.type]: typeDashboard(ctx),
    [dashboardUids.device]: deviceDashboard(ctx),
    [dashboardUids.pipeline]: pipelineDashboard(ctx),
  }
}

function validate(opts: DashboardsOptions): Required<DashboardsOptions> {
  const uid = opts.datasourceUid ?? defaultDatasourceUid
  // Grafana uids: at most 40 characters of letters, digits, '-' and '_'.
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(uid)) throw new ForewarnError(ErrorCode.CONFIG, `--datasource-uid "${uid}": use 1 to 40 letters, digits, '-' or '_'`)
  const influxUrl = opts.influxUrl ?? defaults.influxUrl
  let parsed: URL
  try {
    parsed = new URL(influxUrl)
  } catch (cause) {
    throw new ForewarnError(ErrorCode.CONFIG, `--influx-url "${influxUrl}" is not a URL`, { cause })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ForewarnError(ErrorCode.CONFIG, `--influx-url "${influxUrl}": use http:// or https://`)
  if (opts.out.trim() === '') throw new ForewarnError(ErrorCode.CONFIG, '--out: give a folder to write into')
  return { out: opts.out, datasourceUid: uid, influxUrl, database: opts.database ?? defaults.database, dashboardsPath: opts.dashboardsPath ?? defaults.dashboardsPath }
}

/** Writes OUT/datasources/forewarn.yaml, OUT/dashboards/forewarn.yaml and OUT/dashboards/forewarn/*.json. */
export async function runDashboards(opts: DashboardsOptions): Promise<{ files: string[] }> {
  const o = validate(opts)
  const jsonDir = join(o.out, 'dashboards', 'forewarn')
  await mkdir(jsonDir, { recursive: true })
  await mkdir(join(o.out, 'datasources'), { recursive: true })
  const files: string[] = []
  const write = async (path: string, text: string) => {
    await writeFile(path, text)
    files.push(path)
  }
  await write(join(o.out, 'datasources', 'forewarn.yaml'), datasourceYaml(o))
  await write(join(o.out, 'dashboards', 'forewarn.yaml'), dashboardProviderYaml(o))
  for (const [uid, d] of Object.entries(buildDashboards(o.datasourceUid))) {
    await write(join(jsonDir, `${uid}.json`), `${JSON.stringify(d, null, 2)}\n`)
  }
  return { files }
}
