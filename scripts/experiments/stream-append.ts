/**
 * Where the edge's stream appends spend their time (issue 17's throughput): appends to an R3
 * stream on a three-node NATS cluster on loopback, as the edge makes them, in several shapes.
 * Each shape runs for a few seconds with a fixed number of readings in flight and reports
 * readings/s, stream messages/s, this process's CPU per reading and nats-server's (summed).
 *
 *   npx tsx scripts/experiments/stream-append.ts [seconds per shape, default 4]
 *
 * Shapes: `one` = one js.publish per reading (msgID each, as cluster/stream-writer.ts was);
 * `core` = the same message and headers over core request/reply (no per-publish timer or options
 * copy); `batch N` = N readings of one partition in one message.
 */
import { connect, headers } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { startNatsCluster } from '../../servers/nats.ts'
import { cpuSeconds } from '../../cli/bench/servers.ts'

const seconds = Number(process.argv[2] ?? 4)
const inFlight = 1000
const partitions = 64
const devices = 50
const nats = await startNatsCluster()
const nc = await connect({ servers: nats.urls.split(',') })
const natsPids = (): number[] => nats.nodes.map((n) => n.pid() ?? -1)
const jsm = await jetstreamManager(nc)
const js = jetstream(nc)
const row = (d: number, s: number): string => JSON.stringify({ d: `dev-${d}`, k: 0, b: 1, s, t: Date.now(), m: '{"v":1,"ts":1,"seq":1,"metrics":{"cabinet_temp_c":4.1,"compressor_current_a":1.2}}' })

type Send = (d: number, s: number, n: number) => Promise<unknown>
const shapes: [string, number, Send][] = [
  ['one js.publish per reading', 1, (d, s) => js.publish(`r.${d % partitions}`, row(d, s), { msgID: `dev-${d}:1:${s}`, timeout: 10_000, retries: 5 })],
  ['core request per reading', 1, (d, s) => {
    const h = headers()
    h.set('Nats-Msg-Id', `dev-${d}:1:${s}`)
    return nc.request(`r.${d % partitions}`, row(d, s), { timeout: 10_000, headers: h })
  }],
  ...[4, 16].map((n): [string, number, Send] => [`batch of ${n} per js.publish`, n, (d, s, k) => {
    const rows: string[] = []
    for (let i = 0; i < k; i++) rows.push(row(d, s + i))
    return js.publish(`r.${d % partitions}`, `[${rows.join(',')}]`, { msgID: `dev-${d}:1:${s}-${s + k - 1}`, timeout: 10_000, retries: 5 })
  }]),
]

try {
  for (const [name, per, send] of shapes) {
    await jsm.streams.add({ name: 'A', subjects: ['r.*'], num_replicas: 3, retention: RetentionPolicy.Limits, storage: StorageType.File, duplicate_window: 600e9 })
    const seq = new Array<number>(devices).fill(0)
    let readings = 0
    let stop = false
    // Closed loop: `inFlight` readings outstanding, spread over the devices.
    const lane = async (d: number): Promise<void> => {
      while (!stop) {
        const s = seq[d] as number
        seq[d] = s + per
        await send(d, s, per)
        readings += per
      }
    }
    const lanes: Promise<void>[] = []
    for (let i = 0; i < inFlight / per; i++) lanes.push(lane(i % devices))
    await new Promise((r) => setTimeout(r, 1000))
    const r0 = readings
    const c0 = cpuSeconds(process.pid)
    const n0 = natsPids().reduce((a, p) => a + cpuSeconds(p), 0)
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, seconds * 1000))
    const dt = (performance.now() - t0) / 1000
    const n = readings - r0
    const us = (c: number): string => ((c * 1e6) / n).toFixed(0)
    const self = cpuSeconds(process.pid) - c0
    const natsCpu = natsPids().reduce((a, p) => a + cpuSeconds(p), 0) - n0
    console.log(`${name.padEnd(28)} ${(n / dt).toFixed(0).padStart(6)} readings/s ${(n / per / dt).toFixed(0).padStart(6)} msgs/s  client ${us(self).padStart(4)} µs/reading  nats ${us(natsCpu).padStart(4)} µs/reading  (client ${((self / dt) * 100).toFixed(0)} %, nats ${((natsCpu / dt) * 100).toFixed(0)} % of a core)`)
    stop = true
    await Promise.allSettled(lanes)
    await jsm.streams.delete('A')
  }
} finally {
  await nc.close()
  await nats.stop()
}
