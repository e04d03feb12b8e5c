/**
 * The InfluxDB schema Forewarn writes (docs/influxdb.md explains it). Dashboards query exactly
 * these names, so they live here, once.
 */
export const measurements = {
  /** tags: device_id, type, model, region; one field per catalogue metric. */
  telemetry: 'telemetry',
  /** tags: device_id, type, model, region, component ('overall' for the whole appliance); fields: score, status (string), rul_hours_median/low/high. */
  health: 'health',
  /** tags: device_id, type, model, region, fault_code, severity, event (raised|escalated|cleared); fields: episode_id, message, rul_hours_median. */
  warnings: 'warnings',
  /** tags: device_id, type, fault_code, priority, event (opened|state_changed|delivered); fields: ticket_id, state, sla_state, outcome (resolved tickets). */
  tickets: 'tickets',
  /** tags: stage; fields: accepted, rejected, lag_ms, batch_points, write_ms, spool_bytes, retries. */
  pipeline: 'pipeline',
} as const

export const tagKeys = {
  device: 'device_id',
  type: 'type',
  model: 'model',
  region: 'region',
  component: 'component',
  faultCode: 'fault_code',
  severity: 'severity',
  event: 'event',
  priority: 'priority',
  stage: 'stage',
} as const
