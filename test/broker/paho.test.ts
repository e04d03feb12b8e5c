/**
 * The Eclipse Paho MQTT 3.1.1 interoperability client tests (vendored in ./paho-interop, Python 3
 * standard library only) against `forewarn broker --allow-anonymous --deny-subscribe test/nosubscribe`,
 * the set-up the suite's header asks for. About 40 s. Mosquitto 2.0 passes 9 of 10 here.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeService } from '../services/availability.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const runSh = fileURLToPath(new URL('./paho-interop/run.sh', import.meta.url))

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const cp = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    cp.stdout.on('data', (d: Buffer) => { out += d.toString() })
    cp.stderr.on('data', (d: Buffer) => { out += d.toString() })
    cp.on('close', (code) => resolve({ code, out }))
  })
}

describeService('python3', 'Eclipse Paho MQTT 3.1.1 interop suite against forewarn broker', () => {
  let broker: ChildProcess
  let port = 0
  beforeAll(async () => {
    port = await freePort()
    broker = spawn(process.execPath, ['bin/forewarn.js', 'broker', '--allow-anonymous', '--deny-subscribe', 'test/nosubscribe', '--port', String(port)], {
      cwd: root, stdio: ['ignore', 'ignore', 'pipe'],
    })
    let log = ''
    broker.stderr?.on('data', (d: Buffer) => { log += d.toString() })
    const deadline = Date.now() + 30_000
    while (!log.includes('broker listening')) {
      if (broker.exitCode !== null || Date.now() > deadline) throw new Error(`forewarn broker did not start: ${log}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  })
  afterAll(async () => {
    if (broker && broker.exitCode === null) {
      broker.kill('SIGTERM')
      await once(broker, 'exit')
    }
  })

  it('passes at least 9 of the 10 tests, among them keep-alive 0, $ topics, the refused subscription and the zero-length client id', async () => {
    const { code, out } = await run('bash', [runSh, '127.0.0.1', String(port)])
    const summary = /=== PAHO V3\.1\.1 INTEROP \S+\s+run=(\d+) pass=(-?\d+) fail=(\d+)/.exec(out)
    const failed = /=== failed: (.*)/.exec(out)?.[1]?.trim().split(/\s+/).filter((t) => t !== '-') ?? []
    console.log(summary?.[0] ?? out.slice(-2000), `failed: ${failed.join(' ') || '-'}`)
    expect(summary, out.slice(-4000)).not.toBeNull()
    expect(Number(summary?.[1])).toBe(10)
    expect(Number(summary?.[2])).toBeGreaterThanOrEqual(9)
    for (const t of ['test_keepalive', 'test_dollar_topics', 'test_subscribe_failure', 'test_zero_length_clientid']) expect(failed).not.toContain(t)
    if (failed.length === 0) expect(code).toBe(0)
  }, 300_000)
})
