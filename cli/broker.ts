/**
 * `forewarn broker`: the embedded broker alone, for an external pipeline (`forewarn start --broker`)
 * or conformance testing. With no registry in this process, accounts come from a JSON file named
 * by FOREWARN_BROKER_USERS: `[{"username","password","principal":{"kind":"device","deviceId":…}}]`.
 * Publishes are acknowledged on receipt here: durability is the subscribing pipeline's job
 * (persistent session, manual PUBACK after commit — ingest/mqtt-source.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import pino from 'pino'
import { ErrorCode, ForewarnError } from '../domain/index.ts'
import { createEmbeddedBroker, type EmbeddedBroker, type Principal } from '../broker/index.ts'
import { createRedisState } from '../broker/redis.ts'

export interface BrokerCommandOptions {
  port: number
  host?: string
  wsPort?: number
  tlsPort?: number
  cert?: string
  key?: string
  allowAnonymous?: boolean
  /** With `allowAnonymous`: filters anonymous clients are refused (SUBACK 0x80), e.g. the Paho suite's `test/nosubscribe`. */
  denySubscribe?: string[]
  /** Path of the accounts file; defaults to env FOREWARN_BROKER_USERS. */
  users?: string
  /** Durable, shareable sessions on Redis; defaults to env FOREWARN_BROKER_REDIS_URL. */
  redisUrl?: string
  /** Install SIGINT/SIGTERM handlers that close the broker (default true). */
  handleSignals?: boolean
}

interface Account {
  digest: Buffer
  principal: Principal
}

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest()

function loadAccounts(path: string | undefined): Map<string, Account> {
  const out = new Map<string, Account>()
  if (path === undefined) return out
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (cause) {
    throw new ForewarnError(ErrorCode.CONFIG, `cannot read broker accounts from ${path}`, { cause })
  }
  if (!Array.isArray(raw)) throw new ForewarnError(ErrorCode.CONFIG, `${path} must hold a JSON array of accounts`)
  for (const a of raw as { username?: unknown; password?: unknown; principal?: { kind?: string; deviceIds?: string[] } }[]) {
    if (typeof a.username !== 'string' || typeof a.password !== 'string' || typeof a.principal?.kind !== 'string') {
      throw new ForewarnError(ErrorCode.CONFIG, `${path}: every account needs username, password and principal`)
    }
    const p = a.principal as Principal & { deviceIds?: string[] }
    const principal: Principal = p.kind === 'gateway' ? { ...p, deviceIds: new Set(p.deviceIds ?? []) } : p
    out.set(a.username, { digest: digest(a.password), principal })
  }
  return out
}

export async function runBroker(o: BrokerCommandOptions): Promise<EmbeddedBroker> {
  const log = pino({ name: 'forewarn-broker' }, pino.destination(2))
  if ((o.tlsPort === undefined) !== (o.cert === undefined) || (o.cert === undefined) !== (o.key === undefined)) {
    throw new ForewarnError(ErrorCode.CONFIG, '--tls-port, --cert and --key go together')
  }
  if (o.denySubscribe !== undefined && o.denySubscribe.length > 0 && !o.allowAnonymous) {
    throw new ForewarnError(ErrorCode.CONFIG, '--deny-subscribe applies to anonymous clients: it needs --allow-anonymous')
  }
  const accounts = loadAccounts(o.users ?? process.env.FOREWARN_BROKER_USERS)
  if (accounts.size === 0 && !o.allowAnonymous) {
    log.warn('no accounts (FOREWARN_BROKER_USERS) and anonymous access off: every client will be refused')
  }
  const redisUrl = o.redisUrl ?? process.env.FOREWARN_BROKER_REDIS_URL
  const broker = await createEmbeddedBroker({
    ...(redisUrl ? createRedisState({ url: redisUrl }) : {}),
    port: o.port,
    host: o.host ?? '127.0.0.1',
    logger: log,
    allowAnonymous: o.allowAnonymous === true,
    anonymousDenyFilters: o.denySubscribe ?? [],
    ...(o.wsPort !== undefined ? { wsPort: o.wsPort } : {}),
    ...(o.tlsPort !== undefined && o.cert && o.key
      ? { tls: { port: o.tlsPort, cert: readFileSync(o.cert), key: readFileSync(o.key) } }
      : {}),
    authenticate: async (username, password) => {
      const a = accounts.get(username)
      return a && timingSafeEqual(a.digest, digest(password)) ? a.principal : null
    },
    onPublish: async () => {},
  })
  log.info({ port: broker.port, wsPort: broker.wsPort, tlsPort: broker.tlsPort, accounts: accounts.size, redis: redisUrl !== undefined }, 'broker listening')
  if (o.handleSignals !== false) {
    const stop = (): void => {
      void broker.close().then(() => log.info('broker closed'))
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }
  return broker
}
