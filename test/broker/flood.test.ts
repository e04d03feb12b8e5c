/**
 * A flood from one device and an authentication storm do not starve well-behaved devices.
 * Measured as a ratio in one run (their delivery with and without the attack), not as a timing.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { createIngest, type Ingest } from '../../ingest/index.ts'
import { deviceOpts, type Harness, principals, startHarness } from './harness.ts'

let h: Harness | null = null
let ingest: Ingest | null = null
let dir = ''
afterEach(async () => {
  await h?.close()
  await ingest?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const GOOD = ['good0', 'good1', 'good2', 'good3']
for (const id of [...GOOD, 'flood']) principals[id] = { password: `pw-${id}`, principal: { kind: 'device', deviceId: id } }

async function measure(clients: MqttClient[], ms: number, seq: { n: number }): Promise<number> {
  const end = Date.now() + ms
  let acked = 0
  await Promise.all(clients.map(async (c) => {
    while (Date.now() < end) {
      const id = c.options.clientId as string
      const payload = JSON.stringify({ v: 1, boot: 1, ts: Date.now() - 10, seq: seq.n++, metrics: { cabinet_temp_c: 4 } })
      await c.publishAsync(`appliances/${id}/telemetry`, payload, { qos: 1 })
      acked++
    }
  }))
  return acked
}

describe('flood resistance', () => {
  it('keeps well-behaved devices well above starvation during a flood and an auth storm', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-flood-'))
    ingest = createIngest({
      dataDir: dir, lookupDevice: () => ({ type: 'refrigerator', revoked: false }),
      onReadings: () => {}, onStatus: () => {}, onDeviceEvent: () => {},
    })
    await ingest.start()
    const ing = ingest
    h = await startHarness({ maxInflightPerClient: 64, connectionsPerAddressPerSec: 50, rateLimitExempt: [] })
    h.commit = async (p) => {
      await ing.accept(p.deviceId, p.kind, Buffer.from(p.payload))
    }
    const good: MqttClient[] = []
    for (const id of GOOD) good.push(await h.connect(deviceOpts(id)))
    const seq = { n: 0 }
    // The attackers run in their own process, as they would on the internet; quiet and attack
    // windows alternate, so load from elsewhere on the machine weighs on both.
    const attacker = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'attacker.ts'), String(h.broker.port)], { stdio: ['pipe', 'pipe', 'inherit'] })
    const lines = createInterface({ input: attacker.stdout })[Symbol.asyncIterator]()
    let baseline = 0
    let underAttack = 0
    let attackStats = { floodConnections: 0, stormAttempts: 0 }
    try {
      expect((await lines.next()).value).toBe('ready')
      for (let round = 0; round < 4; round++) {
        baseline += await measure(good, 400, seq)
        attacker.stdin.write('on\n')
        underAttack += await measure(good, 400, seq)
        attacker.stdin.write('off\n')
        attackStats = JSON.parse((await lines.next()).value as string) as typeof attackStats
      }
    } finally {
      attacker.kill('SIGKILL')
    }
    const { floodConnections, stormAttempts } = attackStats

    const ratio = underAttack / baseline
    const c = h.broker.counters()
    console.log(`flood: baseline ${baseline} acks in 1.6 s, under attack ${underAttack} acks in 1.6 s, ratio ${ratio.toFixed(2)}; flood readings accepted ${ing.stats().accepted - baseline - underAttack}, flood connections ${floodConnections}, inflight cut-offs ${c.inflightExceeded}, storm attempts ${stormAttempts}, refused by rate ${c.connectionsRefusedRate}, auth failures ${c.authFailures}`)
    expect(baseline).toBeGreaterThan(50)
    // Starvation would be a ratio near 0. On a 2-core machine the attacker process itself takes a
    // core, and other test files run beside this one: the ratio measured 0.46–0.75 alone and fell
    // to 0.30 with the machine loaded, so the bar sits at half that, where a starved device
    // (ratio ≈ 0) still clearly fails it.
    expect(ratio).toBeGreaterThan(0.15)
    expect(c.connectionsRefusedRate).toBeGreaterThan(0)
  })
})
