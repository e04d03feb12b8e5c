/**
 * Forewarn records → InfluxDB line protocol, built with the client library's `Point`, in the
 * schema of domain/influx-schema.ts. Timestamps are event times in milliseconds (precision=ms), so a
 * point written twice lands on the same series and time and overwrites itself: writes are idempotent.
 */
import { Point } from '@influxdata/influxdb-client'
import { measurements, tagKeys, type DetectorEvent, type HealthCore } from '../../domain/index.ts'
import type { DeviceTags, PipelineStats, TaggedReading, TicketSinkEvent } from '../sink.ts'

const msTime = { convertTime: (v: string | number | Date | undefined): string | undefined => (v === undefined ? undefined : String(v)) }

function deviceTags(p: Point, deviceId: string, tags: DeviceTags): Point {
  return p.tag(tagKeys.device, deviceId).tag(tagKeys.type, tags.type).tag(tagKeys.model, tags.model).tag(tagKeys.region, tags.region)
}

function line(p: Point): string | null {
  return p.toLineProtocol(msTime) ?? null
}

/** Appends one line per reading; a reading without a finite metric yields no line. */
export function readingLines(batch: readonly TaggedReading[], out: string[]): void {
  for (const { reading, tags } of batch) {
    const p = deviceTags(new Point(measurements.telemetry), reading.deviceId, tags)
    for (const name in reading.metrics) {
      const v = reading.metrics[name] as number
      if (Number.isFinite(v)) p.floatField(name, v)
    }
    p.timestamp(Math.trunc(reading.ts))
    const l = line(p)
    if (l !== null) out.push(l)
  }
}

export function healthLines(deviceId: string, tags: DeviceTags, core: HealthCore, atMs: number, out: string[]): void {
  const ts = Math.trunc(atMs)
  const overall = deviceTags(new Point(measurements.health), deviceId, tags)
    .tag(tagKeys.component, 'overall')
    .floatField('score', core.overall)
    .stringField('status', core.status)
    .timestamp(ts)
  const l = line(overall)
  if (l !== null) out.push(l)
  for (const [component, h] of Object.entries(core.components)) {
    const c = line(deviceTags(new Point(measurements.health), deviceId, tags).tag(tagKeys.component, component).floatField('score', h.score).timestamp(ts))
    if (c !== null) out.push(c)
  }
}

const warningEvent = { 'warning.raised': 'raised', 'warning.escalated': 'escalated', 'warning.cleared': 'cleared' } as const

export function warningLine(ev: DetectorEvent, tags: DeviceTags, detectedAtMs: number): string | null {
  const p = deviceTags(new Point(measurements.warnings), ev.deviceId, tags)
    .tag(tagKeys.faultCode, ev.faultCode)
    .tag(tagKeys.severity, ev.severity)
    .tag(tagKeys.event, warningEvent[ev.kind])
    .stringField('episode_id', ev.episodeId)
    .stringField('message', ev.message)
  if (ev.rul) p.floatField('rul_hours_median', ev.rul.medianHours)
  return line(p.timestamp(Math.trunc(detectedAtMs)))
}

export function ticketLine(e: TicketSinkEvent): string | null {
  const p = new Point(measurements.tickets)
    .tag(tagKeys.device, e.deviceId)
    .tag(tagKeys.type, e.type)
    .tag(tagKeys.faultCode, e.faultCode)
    .tag(tagKeys.priority, e.priority)
    .tag(tagKeys.event, e.event)
    .stringField('ticket_id', e.ticketId)
    .stringField('state', e.state)
    .stringField('sla_state', e.slaState)
  if (e.outcome !== undefined) p.stringField('outcome', e.outcome)
  return line(p.timestamp(Math.trunc(e.atMs)))
}

const integerStats = new Set(['accepted', 'rejected', 'batch_points', 'spool_bytes', 'retries'])

export function pipelineLine(stage: string, stats: PipelineStats, atMs: number): string | null {
  const p = new Point(measurements.pipeline).tag(tagKeys.stage, stage)
  for (const [k, v] of Object.entries(stats)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue
    if (integerStats.has(k)) p.intField(k, Math.trunc(v))
    else p.floatField(k, v)
  }
  return line(p.timestamp(Math.trunc(atMs)))
}
