/**
 * The two ways to hand a batch of line protocol to InfluxDB. Each makes exactly one attempt and
 * classifies the outcome; retry, backoff and spooling belong to the sink (influx.ts), so the
 * library's own retry buffer is switched off and nothing is dropped behind our back.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { HttpError, InfluxDB, type WriteApi } from '@influxdata/influxdb-client'
import { ErrorCode, ForewarnError } from '../../domain/index.ts'
import { redactUrl, type InfluxConfig } from './influx-config.ts'

/**
 * retry: network error, timeout, 429, 5xx — try again later (after `retryAfterMs` when the server said).
 * refused: the server refused the data itself (400, 413): retrying would fail the same way.
 * denied: authentication, permission or a missing database/bucket (401, 403, 404).
 */
export type WriteFailureKind = 'retry' | 'refused' | 'denied'

export class WriteFailure extends Error {
  readonly kind: WriteFailureKind
  readonly status: number | null
  readonly retryAfterMs: number | null
  constructor(kind: WriteFailureKind, status: number | null, message: string, retryAfterMs: number | null = null, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'WriteFailure'
    this.kind = kind
    this.status = status
    this.retryAfterMs = retryAfterMs
  }
}

export interface InfluxWriter {
  /** One request; each entry is one line or several separated by newlines, UTF-8. */
  write(blocks: readonly Buffer[]): Promise<void>
  /** Makes sure the target exists and accepts us; throws FOREWARN_ERR_CONFIG when it never will. */
  validate(probeLine: string): Promise<void>
  close(): Promise<void>
}

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | null {
  if (!value) return null
  const s = Number(value)
  if (Number.isFinite(s)) return Math.max(0, s * 1000)
  const at = Date.parse(value)
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : null
}

export function classifyStatus(status: number, body: string, retryAfter: string | null | undefined): WriteFailure {
  const text = `HTTP ${status}${body ? `: ${body.slice(0, 300)}` : ''}`
  if (status === 429 || status >= 500) return new WriteFailure('retry', status, text, parseRetryAfter(retryAfter))
  if (status === 401 || status === 403 || status === 404) return new WriteFailure('denied', status, text)
  return new WriteFailure('refused', status, text)
}

function networkFailure(err: unknown): WriteFailure {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } }
  const detail = e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err)
  return new WriteFailure('retry', null, `network: ${detail}`, null, err)
}

function deniedAtStart(f: WriteFailure, what: string): ForewarnError {
  return new ForewarnError(ErrorCode.CONFIG, `InfluxDB sink: ${what} (${f.message})`, { cause: f })
}

const NL = Buffer.from('\n')

interface Reply {
  status: number
  body: string
  retryAfter: string | undefined
}

/**
 * One POST with node:http(s) and a keep-alive agent, the body written block by block. Not fetch:
 * undici turns a string body into a web stream and copies it again (cloneAsUint8Array), ~15 ms of
 * blocked event loop for a 5,000-line batch here, which showed up in every latency outlier.
 */
function poster(timeoutMs: number): { post(url: URL, headers: Record<string, string>, blocks: readonly Buffer[]): Promise<Reply>; close(): void } {
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 2 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 2 }) }
  return {
    post(url, headers, blocks) {
      let length = Math.max(0, blocks.length - 1)
      for (const b of blocks) length += b.byteLength
      const secure = url.protocol === 'https:'
      return new Promise<Reply>((resolve, reject) => {
        const req = (secure ? httpsRequest : httpRequest)(url, {
          method: 'POST', agent: secure ? agents.https : agents.http, headers: { ...headers, 'content-length': String(length) },
        }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers['retry-after'] }))
          res.on('error', (err) => reject(networkFailure(err)))
        })
        req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })))
        req.on('error', (err) => reject(networkFailure(err)))
        for (let i = 0; i < blocks.length; i++) {
          if (i > 0) req.write(NL)
          req.write(blocks[i] as Buffer)
        }
        req.end()
      })
    },
    close() {
      agents.http.destroy()
      agents.https.destroy()
    },
  }
}

export function createV1Writer(cfg: Extract<InfluxConfig, { api: 'v1' }>, timeoutMs: number): InfluxWriter {
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' }
  if (cfg.username !== null) headers.authorization = `Basic ${Buffer.from(`${cfg.username}:${cfg.password ?? ''}`).toString('base64')}`
  const writeUrl = new URL(`${cfg.url}/write?${new URLSearchParams({ db: cfg.database, precision: 'ms' })}`)
  const http = poster(timeoutMs)

  async function write(blocks: readonly Buffer[]): Promise<void> {
    const res = await http.post(writeUrl, headers, blocks)
    if (res.status === 204 || res.status === 200) return
    throw classifyStatus(res.status, res.body, res.retryAfter)
  }

  return {
    write,
    async validate(probeLine) {
      const show = await http.post(new URL(`${cfg.url}/query?${new URLSearchParams({ q: 'SHOW DATABASES' })}`), headers, [])
      const text = show.body
      if (show.status === 401 || show.status === 403) throw deniedAtStart(classifyStatus(show.status, text, null), 'username or password refused')
      if (show.status >= 200 && show.status < 300) {
        const body = JSON.parse(text) as { results?: { series?: { values?: string[][] }[] }[] }
        const names = (body.results?.[0]?.series?.[0]?.values ?? []).map((v) => v[0])
        if (!names.includes(cfg.database)) {
          throw new ForewarnError(ErrorCode.CONFIG, `InfluxDB sink: database "${cfg.database}" does not exist at ${redactUrl(cfg.url)} (CREATE DATABASE "${cfg.database}")`)
        }
      }
      try {
        await write([Buffer.from(probeLine)])
      } catch (err) {
        if (err instanceof WriteFailure && err.kind !== 'retry') throw deniedAtStart(err, `probe write to database "${cfg.database}" refused`)
        throw err
      }
    },
    async close() {
      http.close()
    },
  }
}

/** `maxLines`: the largest batch we send; the library preallocates its buffer to that size. */
export function createV2Writer(cfg: Extract<InfluxConfig, { api: 'v2' }>, timeoutMs: number, maxLines: number): InfluxWriter {
  const client = new InfluxDB({ url: cfg.url, token: cfg.token || undefined, timeout: timeoutMs })
  // One attempt per flush: no library retries, no library buffer; a failure rejects flush().
  const api: WriteApi = client.getWriteApi(cfg.org, cfg.bucket, 'ms', {
    batchSize: maxLines + 1,
    flushInterval: 0,
    maxRetries: 0,
    maxBufferLines: Number.MAX_SAFE_INTEGER,
    maxBatchBytes: Number.MAX_SAFE_INTEGER,
    writeFailed: (error: Error) => Promise.reject(error),
  })

  async function write(blocks: readonly Buffer[]): Promise<void> {
    // The library takes strings and joins records with newlines, as a block is joined. More
    // entries than its batch size would make it flush on its own: they go out in pieces.
    const lines = blocks.map((b) => b.toString('utf8'))
    for (let i = maxLines; i < lines.length; i += maxLines) await writeOnce(lines.slice(i - maxLines, i))
    await writeOnce(lines.length > maxLines ? lines.slice(Math.floor((lines.length - 1) / maxLines) * maxLines) : lines)
  }

  async function writeOnce(lines: readonly string[]): Promise<void> {
    api.writeRecords(lines as string[])
    try {
      await api.flush()
    } catch (err) {
      if (err instanceof HttpError) {
        const retryAfter = err.headers?.['retry-after']
        throw classifyStatus(err.statusCode, err.body ?? err.message, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter)
      }
      throw networkFailure(err)
    }
  }

  return {
    write,
    async validate(probeLine) {
      // A probe write: VictoriaMetrics and InfluxDB 3 have no bucket API, and a write is what we need to work.
      try {
        await write([Buffer.from(probeLine)])
      } catch (err) {
        if (err instanceof WriteFailure && err.kind === 'denied') throw deniedAtStart(err, `token, org "${cfg.org}" or bucket "${cfg.bucket}" refused`)
        if (err instanceof WriteFailure && err.kind === 'refused') throw deniedAtStart(err, 'probe write refused')
        throw err
      }
    },
    async close() {
      await api.close().catch(() => undefined)
    },
  }
}

export function createWriter(cfg: InfluxConfig, timeoutMs: number, maxLines: number): InfluxWriter {
  return cfg.api === 'v1' ? createV1Writer(cfg, timeoutMs) : createV2Writer(cfg, timeoutMs, maxLines)
}
