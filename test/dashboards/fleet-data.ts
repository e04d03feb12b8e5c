/**
 * A small fleet's history in the InfluxDB schema, encoded by the real sink's line builders
 * (ingest/sinks/influx-lines.ts) so the dashboards are proven against what Forewarn writes.
 * Every appliance type in the catalogue gets devices, every health status and SLA state occurs,
 * warnings are raised (some cleared) with remaining-life estimates, tickets are repaired or closed
 * as "no fault found". TODO(lead): replace with a short simulated run through the real pipeline.
 */
import { applianceTypes, catalogue, type ApplianceType, type DetectorEvent, type HealthCore, type HealthStatus, type Reading } from '../../domain/index.ts'
import { healthLines, pipelineLine, readingLines, ticketLine, warningLine } from '../../ingest/sinks/influx-lines.ts'
import type { DeviceTags } from '../../ingest/sink.ts'
import { healthStatuses, pipelineStages, slaStates } from '../../dashboards/common.ts'
import { ticketOutcome } from '../../dashboards/type.ts'

export interface FleetDevice {
  id: string
  type: ApplianceType
  tags: DeviceTags
  status: HealthStatus
}

export interface FleetData {
  lines: string[]
  devices: FleetDevice[]
  fromMs: number
  toMs: number
}

const stepMs = 5 * 60_000
const scoreFor: Readonly<Record<HealthStatus, number>> = { healthy: 94, watch: 76, warning: 58, critical: 31, offline: 70 }

export function fleetData(toMs: number, hours = 6): FleetData {
  const fromMs = toMs - hours * 3_600_000
  const lines: string[] = []
  const devices: FleetDevice[] = []
  let n = 0
  for (const type of applianceTypes) {
    const spec = catalogue[type]
    for (let k = 0; k < 3; k++) {
      const status = healthStatuses[n % healthStatuses.length] as HealthStatus
      const model = spec.models[k % spec.models.length] as string
      const d: FleetDevice = { id: `${type.slice(0, 3)}-${String(k + 1).padStart(4, '0')}`, type, tags: { type, model, region: k % 2 === 0 ? 'eu-west' : 'eu-north' }, status }
      devices.push(d)
      n++
      let seq = 0
      for (let ts = fromMs; ts <= toMs; ts += stepMs) {
        const phase = (ts - fromMs) / (hours * 3_600_000)
        const metrics: Record<string, number> = {}
        spec.metrics.forEach((metric, i) => {
          const [lo, hi] = metric.normal
          const wave = 0.5 + 0.4 * Math.sin(phase * 12 + i + k)
          metrics[metric.name] = metric.unit === 'bool' ? Math.round(wave) : lo + (hi - lo) * wave
        })
        const reading: Reading = { deviceId: d.id, boot: 1, seq: seq++, ts, metrics }
        readingLines([{ reading, tags: d.tags }], lines)
        // Health drifts from as-new down to the device's final score over the run.
        const overall = 100 - (100 - scoreFor[status]) * phase
        const components = Object.fromEntries(spec.components.map((c, i) => [c.id, { score: Math.max(0, overall + i * 3 - 6), reason: 'fixture' }]))
        const core: HealthCore = { overall, status: ts + stepMs > toMs ? status : 'healthy', components, usage: { runningHours: 1000, cycles: 300, doorOpenings: 0 }, lastEventTime: ts, warmingUp: false }
        healthLines(d.id, d.tags, core, ts, lines)
      }
      const fault = spec.faults[k % spec.faults.length]
      if (fault === undefined) continue
      const raisedAt = fromMs + 2 * 3_600_000 + k * 60_000
      const ev = (kind: DetectorEvent['kind'], atMs: number): DetectorEvent => ({
        kind,
        deviceId: d.id,
        episodeId: `${d.id}:${fault.code}:1`,
        faultCode: fault.code,
        component: fault.component,
        severity: 'warning',
        eventTime: atMs,
        message: `${fault.name}: ${fault.description}`,
        evidence: [],
        rul: kind === 'warning.cleared' ? null : { medianHours: 120 + 40 * k, lowHours: 60, highHours: 300 },
        source: 'detector',
      })
      lines.push(warningLine(ev('warning.raised', raisedAt), d.tags, raisedAt) ?? '')
      // The third device of each type had its warning cleared: it is no longer active.
      if (k === 2) lines.push(warningLine(ev('warning.cleared', raisedAt + 3_600_000), d.tags, raisedAt + 3_600_000) ?? '')
      const ticket = { ticketId: `T-${1000 + n}`, deviceId: d.id, type, faultCode: fault.code, priority: 'P2', slaState: slaStates[n % slaStates.length] as string }
      lines.push(ticketLine({ ...ticket, event: 'opened', state: 'open', atMs: raisedAt + 60_000 }) ?? '')
      lines.push(ticketLine({ ...ticket, event: 'delivered', state: 'open', atMs: raisedAt + 120_000 }) ?? '')
      if (k < 2) {
        const outcome = k === 0 ? ticketOutcome.repaired : ticketOutcome.noFaultFound
        lines.push(ticketLine({ ...ticket, event: 'state_changed', state: outcome, atMs: raisedAt + 2 * 3_600_000 }) ?? '')
      }
    }
  }
  for (let ts = fromMs, i = 0; ts <= toMs; ts += 60_000, i++) {
    lines.push(pipelineLine(pipelineStages.ingest, { accepted: 12 * 60, rejected: i % 7 === 0 ? 2 : 0, lag_ms: 40 + (i % 13) }, ts) ?? '')
    lines.push(pipelineLine(pipelineStages.sink, { batch_points: 180 + (i % 20), write_ms: 8 + (i % 5), spool_bytes: i % 30 < 3 ? 4096 : 0, retries: i % 30 === 0 ? 1 : 0, rejected: 0 }, ts) ?? '')
    lines.push(pipelineLine(pipelineStages.delivery, { batch_points: i % 9, retries: i % 11 === 0 ? 1 : 0, rejected: i % 40 === 0 ? 1 : 0, lag_ms: 300 + (i % 50) }, ts) ?? '')
  }
  return { lines: lines.filter((l) => l !== ''), devices, fromMs, toMs }
}
