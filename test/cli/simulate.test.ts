import { createServer, type Server } from 'node:http'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { isApplianceType } from '../../domain/index.ts'
import { createEmbeddedBroker, type EmbeddedBroker } from '../../broker/index.ts'
import { runSimulate } from '../../cli/simulate.ts'

let api: Server | null = null
let broker: EmbeddedBroker | null = null
afterEach(async () => {
  await broker?.close()
  await new Promise<void>((r) => (api ? api.close(() => r()) : r()))
  api = null
  broker = null
})

/** A stand-in for the API's `POST /devices` contract (201 {device, credentials}), holding the registry. */
async function fakeApi(key: string, registry: Map<string, string>): Promise<string> {
  let n = 0
  api = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const b = JSON.parse(body) as { type: string; warranty?: unknown }
      if (req.method !== 'POST' || req.url !== '/devices' || req.headers.authorization !== `Bearer ${key}` || !isApplianceType(b.type) || !b.warranty) {
        res.writeHead(400).end('bad request')
        return
      }
      const id = `dev-${++n}`
      registry.set(id, `pw-${id}`)
      res.writeHead(201, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ device: { id, ...b }, credentials: { username: id, password: `pw-${id}` } }))
    })
  })
  await new Promise<void>((r) => api?.listen(0, '127.0.0.1', () => r()))
  const a = api.address()
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
}

describe('forewarn simulate', () => {
  it('provisions N devices through the API, publishes R readings each and prints one JSON summary line', async () => {
    const registry = new Map<string, string>()
    const apiUrl = await fakeApi('k3y', registry)
    let telemetry = 0
    broker = await createEmbeddedBroker({
      port: 0,
      authenticate: async (u, p) => (registry.get(u) === p.toString() ? { kind: 'device', deviceId: u } : null),
      onPublish: async (_p, _id, kind) => {
        if (kind === 'telemetry') telemetry++
      },
    })
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    let out = ''
    let err = ''
    stdout.on('data', (c) => (out += c))
    stderr.on('data', (c) => (err += c))
    await runSimulate({
      broker: `mqtt://127.0.0.1:${broker.port}`, api: apiUrl, apiKey: 'k3y', devices: 3, readings: 5, intervalMs: 2, json: true,
      handleSignals: false, stdout, stderr,
    })
    const lines = out.trim().split('\n')
    const summary = JSON.parse(lines[lines.length - 1] as string)
    expect(summary).toMatchObject({ devices: 3, published: 15, acknowledged: 15, failed: 0, lastSeq: { 'dev-1': 4, 'dev-2': 4, 'dev-3': 4 } })
    expect(telemetry).toBe(15)
    expect(registry.size).toBe(3)
    expect(err).toContain('provisioned 3/3')
  })

  it('refuses more gateways than devices before provisioning anything', async () => {
    const registry = new Map<string, string>()
    const apiUrl = await fakeApi('k3y', registry)
    await expect(runSimulate({ broker: 'mqtt://127.0.0.1:1', api: apiUrl, apiKey: 'k3y', devices: 2, gateways: 3, handleSignals: false, stdout: new PassThrough(), stderr: new PassThrough() }))
      .rejects.toMatchObject({ code: 'FOREWARN_ERR_CONFIG', message: expect.stringContaining('--gateways') })
    expect(registry.size).toBe(0)
  })

  it('fails with a clear error when the API refuses provisioning', async () => {
    const apiUrl = await fakeApi('right', new Map())
    await expect(runSimulate({ broker: 'mqtt://127.0.0.1:1', api: apiUrl, apiKey: 'wrong', devices: 1, handleSignals: false, stdout: new PassThrough(), stderr: new PassThrough() }))
      .rejects.toMatchObject({ code: 'FOREWARN_ERR_CONFIG', message: expect.stringContaining('HTTP 400') })
  })
})
