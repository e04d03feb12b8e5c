/**
 * `forewarn simulate`: provisions N new appliances through the API (like a production batch),
 * then runs them as real MQTT clients. Progress and logs go to stderr; with --json the last line
 * of stdout is one compact JSON object with published, acknowledged, failed and lastSeq.
 */
import { readFileSync } from 'node:fs'
import { applianceTypes, catalogue, type ApplianceType } from '../domain/index.ts'
import { runFleet, type FleetMemberSpec, type FleetStats, type FleetSummary } from '../simulators/fleet.ts'
import { ErrorCode, ForewarnError } from '../domain/index.ts'

export interface SimulateOptions {
  broker: string
  api: string
  apiKey: string
  devices: number
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

async function provisionOne(o: SimulateOptions, i: number, now: number): Promise<FleetMemberSpec> {
  const seed = (o.seed ?? 1) * 100_003 + i
  const type = applianceTypes[i % applianceTypes.length] as ApplianceType
  const models = catalogue[type].models
  const day = (offsetDays: number): string => new Date(now + offsetDays * 86_400_000).toISOString().slice(0, 10)
  const res = await fetch(`${o.api.replace(/\/$/, '')}/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      type, model: models[seed % models.length], serial: `SIM-${seed}`, region: regions[i % regions.length],
      installDate: day(-200 - (i % 300)), warranty: { standardEnd: day(365), extended: [] },
    }),
  })
  if (res.status !== 201) {
    throw new ForewarnError(ErrorCode.CONFIG, `provisioning device ${i + 1} failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`)
  }
  const body = (await res.json()) as { device: { id: string }; credentials: { username: string; password: string } }
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
  const nofile = openFilesSoftLimit()
  if (nofile !== null && o.devices + 64 > nofile) {
    err.write(`warning: ${o.devices} connections need more than the open-files limit ${nofile}; raise it first (ulimit -n $(ulimit -Hn))\n`)
  }
  const now = Date.now()
  const members: FleetMemberSpec[] = new Array(o.devices)
  const concurrency = Math.max(1, o.provisionConcurrency ?? 8)
  let nextIndex = 0
  let provisioned = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, o.devices) }, async () => {
      while (nextIndex < o.devices) {
        const i = nextIndex++
        members[i] = await provisionOne(o, i, now)
        if (++provisioned % 100 === 0 || provisioned === o.devices) err.write(`provisioned ${provisioned}/${o.devices}\n`)
      }
    }),
  )

  // Fast simulated time: one catalogue interval of event time per publish, starting far enough
  // back that no reading is due in the future; an unbounded run starts a day back and then
  // settles into real time.
  const span = o.readings !== undefined ? (o.readings + 1) * Math.max(...members.map((m) => catalogue[m.type].reportingIntervalS * 1000)) : 86_400_000
  const fleet = runFleet({
    brokerUrl: o.broker,
    members,
    startMs: now - span,
    intervalMs: o.intervalMs ?? 1000,
    ...(o.readings !== undefined ? { readingsPerDevice: o.readings } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.rampUpPerSec !== undefined ? { rampUpPerSec: o.rampUpPerSec } : {}),
    onProgress: (p: FleetStats) =>
      err.write(`connected ${p.connected}/${p.devices} published ${p.published} acknowledged ${p.acknowledged} failed ${p.failed}\n`),
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
