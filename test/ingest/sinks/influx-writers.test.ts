/** How each writer classifies what the server answers, against a scripted HTTP server on loopback. */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createV1Writer, createV2Writer, parseRetryAfter, WriteFailure, type InfluxWriter } from '../../../ingest/sinks/influx-writers.ts'
import { freePort } from '../../services/process.ts'

let server: Server
let url = ''
let reply: { status: number; headers?: Record<string, string>; body?: string } = { status: 204 }
const seen: { path: string; body: string; auth: string | undefined }[] = []

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      seen.push({ path: req.url ?? '', body, auth: req.headers.authorization })
      res.writeHead(reply.status, reply.headers ?? {})
      res.end(reply.body ?? '')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  await new Promise((r) => server.close(r))
})

async function failure(w: InfluxWriter): Promise<WriteFailure> {
  try {
    await w.write([Buffer.from('m f=1 1')])
  } catch (err) {
    expect(err).toBeInstanceOf(WriteFailure)
    return err as WriteFailure
  }
  throw new Error('expected the write to fail')
}

const writers: [string, () => InfluxWriter][] = [
  ['v1', () => createV1Writer({ api: 'v1', url, database: 'db', username: 'u', password: 'p' }, 2_000)],
  ['v2', () => createV2Writer({ api: 'v2', url, token: 'tok', org: 'o', bucket: 'b' }, 2_000, 100)],
]

describe.each(writers)('%s writer', (api, make) => {
  it('posts line protocol with ms precision and credentials', async () => {
    reply = { status: 204 }
    seen.length = 0
    const w = make()
    await w.write([Buffer.from('m f=1 1'), Buffer.from('m f=2 2')])
    await w.close()
    expect(seen).toHaveLength(1)
    expect(seen[0]?.body).toBe('m f=1 1\nm f=2 2')
    if (api === 'v1') {
      expect(seen[0]?.path).toBe('/write?db=db&precision=ms')
      expect(seen[0]?.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`)
    } else {
      expect(seen[0]?.path).toBe('/api/v2/write?org=o&bucket=b&precision=ms')
      expect(seen[0]?.auth).toBe('Token tok')
    }
  })

  it('retries 429 after the Retry-After the server asked for, and 5xx', async () => {
    reply = { status: 429, headers: { 'retry-after': '3' } }
    expect(await failure(make())).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 3000 })
    reply = { status: 503, body: 'overloaded' }
    expect(await failure(make())).toMatchObject({ kind: 'retry', status: 503, retryAfterMs: null })
  })

  it('calls 401/404 denied and 400 refused', async () => {
    reply = { status: 401, body: '{"error":"authorization failed"}' }
    expect(await failure(make())).toMatchObject({ kind: 'denied', status: 401 })
    reply = { status: 404, body: '{"error":"database not found"}' }
    expect(await failure(make())).toMatchObject({ kind: 'denied', status: 404 })
    reply = { status: 400, body: '{"error":"field type conflict"}' }
    expect(await failure(make())).toMatchObject({ kind: 'refused', status: 400 })
  })
})

describe('writers when nothing listens', () => {
  it.each(['v1', 'v2'])('%s: a network failure is retriable', async (api) => {
    const dead = { url: `http://127.0.0.1:${await freePort()}` }
    const w = api === 'v1'
      ? createV1Writer({ api: 'v1', url: dead.url, database: 'db', username: null, password: null }, 1_000)
      : createV2Writer({ api: 'v2', url: dead.url, token: '', org: 'o', bucket: 'b' }, 1_000, 10)
    expect(await failure(w)).toMatchObject({ kind: 'retry', status: null, message: 'network: ECONNREFUSED' })
  })
})

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', Date.UTC(2026, 0, 1))).toBe(10_000)
    expect(parseRetryAfter(undefined)).toBeNull()
    expect(parseRetryAfter('soon')).toBeNull()
  })
})
