/**
 * `forewarn simulate`: provisions N new appliances through the API (like a production batch),
 * then runs them as real MQTT clients. Progress and logs go to stderr; with --json the last line
 * of stdout is one compact JSON object with published, acknowledged, failed and lastSeq.
 *
 * Gateway mode (`--gateways G`): G gateways are provisioned first and the appliances registered
 * behind them round-robin; each gateway is one MQTT connection publishing for all its appliances,
 * so a fleet larger than the open-files limit still fits in one process.
 */
import { readFileSync } from 'node:fs'
import { applianceSpec, applianceTypes, catalogue, type BuiltinType } from '../domain/index.ts'
import { runFleet, type FleetGatewaySpec, type FleetMemberSpec, type FleetStats, type FleetSummary } from '../simulators/fleet.ts'
import { ErrorCode, ForewarnError } from '../domain/index.ts'

export interface SimulateOptions {
  broker: string
  api: string
  apiKey: string
  devices: number
  /** Gateways to put the devices behind (round-robin); none: every device connects on its own. */
  gateways?: number
  readings?: number
  intervalMs?: number
  json?: boolean
  seed?: number
  batchSize?: number
  rampUpPerSec?: number
  /** Parallel provisioning requests. */
  provisionConcurrency?: number
  /** Install SIGINT/SIGTERM handlers that stop the fleet (default true). */
  handleSignals?: boolean
  stdout?: NodeJS.WritableStream
  stderr?: NodeJS.WritableStream
}

const regions = ['north', 'south', 'east', 'west']

async function post<T>(o: SimulateOptions, path: string, body: unknown, what: string): Promise<T> {
  const res = await fetch(`${o.api.replace(/\/$/, '')}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (res.status !== 201) {
    throw new ForewarnError(ErrorCode.CONFIG, `provisioning ${what} failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`)
  }
  return (await res.json()) as T
}

async function provisionGateway(o: SimulateOptions, g: number): Promise<FleetGatewaySpec> {
  const body = await post<{ gateway: { id: string }; credentials: { username: string; password: string } }>(
    o, '/gateways', { label: `simulated hub ${g + 1}`, region: regions[g % regions.length] }, `gateway ${g + 1}`)
  return { gatewayId: body.gateway.id, username: body.credentials.username, password: body.credentials.password, deviceIds: [] }
}

async function provisionOne(o: SimulateOptions, i: number, now: number, gateway?: FleetGatewaySpec): Promise<FleetMemberSpec> {
  const seed = (o.seed ?? 1) * 100_003 + i
  const type = applianceTypes[i % applianceTypes.length] as BuiltinType
  const models = catalogue[type].models
  const day = (offsetDays: number): string => new Date(now + offsetDays * 86_400_000).toISOString().slice(0, 10)
  const body = await post<{ device: { id: string }; credentials: { username: string; password: string } }>(o, '/devices', {
    type, model: models[seed % models.length], serial: `SIM-${seed}`, region: regions[i % regions.length],
    installDate: day(-200 - (i % 300)), warranty: { standardEnd: day(365), extended: [] },
    ...(gateway ? { gatewayId: gateway.gatewayId } : {}),
  }, `device ${i + 1}`)
  return { deviceId: body.device.id, username: body.credentials.username, password: body.credentials.password, type, seed }
}

/** Node cannot raise RLIMIT_NOFILE itself; say so before thousands of sockets fail one by one. */
function openFilesSoftLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    const soft = line?.split(/\s{2,}/)[1]
    return soft === undefined || soft === 'unlimited' ? null : Number(soft)
  } catch {
    return null
  }
}

export async function runSimulate(o: SimulateOptions): Promise<FleetSummary> {
  const out = o.stdout ?? process.stdout
  const err = o.stderr ?? process.stderr
  const gatewayCount = o.gateways ?? 0
  if (!Number.isInteger(gatewayCount) || gatewayCount < 0 || gatewayCount > o.devices) {
    throw new ForewarnError(ErrorCode.CONFIG, `--gateways must be a whole number from 0 to --devices (${o.devices}), got ${String(o.gateways)}`)
  }
  const connections = gatewayCount > 0 ? gatewayCount : o.devices
  const nofile = openFilesSoftLimit()
  if (nofile !== null && connections + 64 > nofile) {
    err.write(`warning: ${connections} connections need more than the open-files limit ${nofile}; raise it first (ulimit -n $(ulimit -Hn)) or use --gateways\n`)
  }
  const gateways: FleetGatewaySpec[] = []
  for (let g = 0; g < gatewayCount; g++) gateways.push(await provisionGateway(o, g))
  if (gatewayCount > 0) err.write(`provisioned ${gatewayCount} gateways\n`)
  const now = Date.now()
  const members: FleetMemberSpec[] = new Array(o.devices)
  const concurrency = Math.max(1, o.provisionConcurrency ?? 8)
  let nextIndex = 0
  let provisioned = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, o.devices) }, async () => {
      while (nextIndex < o.devices) {
        const i = nextIndex++
        const gateway = gateways[i % Math.max(1, gatewayCount)]
        members[i] = await provisionOne(o, i, now, gateway)
        gateway?.deviceIds.push(members[i].deviceId)
        if (++provisioned % 100 === 0 || provisioned === o.devices) err.write(`provisioned ${provisioned}/${o.devices}\n`)
      }
    }),
  )

  // Fast simulated time: one catalogue interval of event time per publish, starting far enough
  // back that no reading is due in the future; an unbounded run starts a day back and then
  // settles into real time.
  const span = o.readings !== undefined ? (o.readings + 1) * Math.max(...members.map((m) => applianceSpec(m.type).reportingIntervalS * 1000)) : 86_400_000
  const fleet = runFleet({
    brokerUrl: o.broker,
    members,
    startMs: now - span,
    intervalMs: o.intervalMs ?? 1000,
    ...(o.readings !== undefined ? { readingsPerDevice: o.readings } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.rampUpPerSec !== undefined ? { rampUpPerSec: o.rampUpPerSec } : {}),
    ...(gatewayCount > 0 ? { gateways } : {}),
    onProgress: (p: FleetStats) =>
      err.write(`connected ${p.connected}/${connections} published ${p.published} acknowledged ${p.acknowledged} failed ${p.failed}\n`),
  })
  const stop = (): void => {
    err.write('stopping: waiting for outstanding acknowledgements\n')
    void fleet.stop()
  }
  if (o.handleSignals !== false) {
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }
  const s = await fleet.done
  process.off('SIGINT', stop)
  process.off('SIGTERM', stop)
  err.write(`done: ${s.devices} devices, published ${s.published}, acknowledged ${s.acknowledged}, failed ${s.failed}\n`)
  if (s.failed > 0 || s.acknowledged < s.published) process.exitCode = 1
  if (o.json) out.write(`${JSON.stringify({ devices: s.devices, published: s.published, acknowledged: s.acknowledged, failed: s.failed, boot: s.boot, lastSeq: s.lastSeq })}\n`)
  else out.write(`published ${s.published} acknowledged ${s.acknowledged} failed ${s.failed} devices ${s.devices}\n`)
  return s
}
