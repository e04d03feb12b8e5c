/** Links into the dashboards from elsewhere (ticket bodies, the API). */
import { dashboardUids } from './common.ts'

/**
 * The device-detail dashboard for one device over [fromMs, toMs]: what a technician opens from a
 * ticket. Uses the stable uid, so the link survives dashboard regeneration and re-provisioning.
 */
export function deviceDashboardUrl(grafanaBaseUrl: string, deviceId: string, fromMs: number, toMs: number): string {
  const base = grafanaBaseUrl.replace(/\/+$/, '')
  const params = new URLSearchParams({ 'var-device': deviceId, from: String(Math.trunc(fromMs)), to: String(Math.trunc(toMs)) })
  return `${base}/d/${dashboardUids.device}/forewarn-device-detail?${params.toString()}`
}
