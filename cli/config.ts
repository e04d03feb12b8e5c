/**
 * Start-up configuration: one schema with defaults and units in the names (STYLE.md 3), filled
 * from flags first, then environment variables, validated once with a clear error.
 */
import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { ErrorCode, ForewarnError } from '../domain/index.ts'

const Port = Type.Integer({ minimum: 0, maximum: 65535 })

export const StartConfig = Type.Object(
  {
    dataDir: Type.String({ minLength: 1 }),
    host: Type.String({ minLength: 1 }),
    mqttPort: Port,
    apiPort: Port,
    /** Simulated appliances run in-process in fast simulated time; 0 runs no fleet. */
    simulate: Type.Integer({ minimum: 0, maximum: 10_000 }),
    /** Days of event time the simulated fleet replays before it reaches the present. */
    simulateDays: Type.Integer({ minimum: 1, maximum: 365 }),
    /** Wall-clock seconds the simulated fleet takes to reach the present. */
    simulateCatchUpS: Type.Integer({ minimum: 1, maximum: 86_400 }),
    seed: Type.Integer({ minimum: 0 }),
    /** An external broker (mqtt://host:port); unset runs the embedded broker. */
    brokerUrl: Type.Union([Type.String({ pattern: '^(mqtts?|wss?)://' }), Type.Null()]),
    adminKey: Type.Union([Type.String({ minLength: 16 }), Type.Null()]),
    publicUrl: Type.Union([Type.String(), Type.Null()]),
    grafanaUrl: Type.Union([Type.String(), Type.Null()]),
    healthFlushMs: Type.Integer({ minimum: 50 }),
    checkpointMs: Type.Integer({ minimum: 100 }),
    /** A device silent for this many reporting intervals is shown offline. */
    offlineAfterIntervals: Type.Number({ minimum: 1 }),
    /** 'demo': plain MQTT on `host`. 'production': MQTT over TLS on `host`, plain MQTT on loopback only. */
    profile: Type.Union([Type.Literal('demo'), Type.Literal('production')]),
    tlsPort: Type.Union([Port, Type.Null()]),
    tlsCertFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    tlsKeyFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    wsPort: Type.Union([Port, Type.Null()]),
    /** Folder of catalogue files (machine types) added to the shipped ones; null: the shipped ones only. */
    catalogueDir: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** How often each type's normal is relearnt from its healthy devices (fleet learning). */
    modelRefreshMs: Type.Integer({ minimum: 1000 }),
    /** NATS URLs of the cluster (docs/scaling.md); null: one process, no NATS (the default). */
    cluster: Type.Union([Type.Array(Type.String({ pattern: '^(nats|tls)://[^/\\s]+$' }), { minItems: 1 }), Type.Null()]),
    /** What this process does in a cluster. */
    roles: Type.Array(Type.Union([Type.Literal('edge'), Type.Literal('worker'), Type.Literal('api')]), { minItems: 1, uniqueItems: true }),
    /** A worker's lease in the cluster lives this long without renewal. */
    clusterLeaseTtlMs: Type.Integer({ minimum: 1000 }),
  },
  { additionalProperties: false },
)
export type StartConfig = Static<typeof StartConfig>

const check = Compile(StartConfig)

export interface StartFlags {
  simulate?: string | number | boolean
  mqttPort?: string | number
  apiPort?: string | number
  dataDir?: string
  host?: string
  broker?: string
  seed?: string | number
  profile?: string
  tlsPort?: string | number
  cert?: string
  key?: string
  wsPort?: string | number
  catalogue?: string
  cluster?: string
  roles?: string
}

const listOf = (v: string | undefined): string[] | undefined =>
  v === undefined || v === '' ? undefined : v.split(',').map((s) => s.trim()).filter((s) => s !== '')

function int(x: string | number | undefined, name: string): number | undefined {
  if (x === undefined || x === '') return undefined
  const n = typeof x === 'number' ? x : Number(x)
  if (!Number.isInteger(n)) throw new ForewarnError(ErrorCode.CONFIG, `${name} must be a whole number, got ${JSON.stringify(x)}`)
  return n
}

/** 127.0.0.0/8, ::1 and localhost: addresses no other machine reaches. */
export function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost'
}

/** The production profile serves the API over HTTPS with the same certificate as MQTT over TLS. */
export const apiUsesTls = (c: StartConfig): boolean => c.profile === 'production' && c.tlsCertFile !== null && c.tlsKeyFile !== null

export function loadStartConfig(flags: StartFlags, env: NodeJS.ProcessEnv): StartConfig {
  const simulate = flags.simulate === true ? 12 : flags.simulate === false ? 0 : int(flags.simulate, '--simulate')
  const cfg = {
    dataDir: flags.dataDir ?? env.FOREWARN_DATA_DIR ?? './data',
    host: flags.host ?? env.FOREWARN_HOST ?? '127.0.0.1',
    mqttPort: int(flags.mqttPort, '--mqtt-port') ?? int(env.FOREWARN_MQTT_PORT, 'FOREWARN_MQTT_PORT') ?? 1883,
    apiPort: int(flags.apiPort, '--api-port') ?? int(env.FOREWARN_API_PORT, 'FOREWARN_API_PORT') ?? 3000,
    simulate: simulate ?? int(env.FOREWARN_SIMULATE, 'FOREWARN_SIMULATE') ?? 0,
    simulateDays: int(env.FOREWARN_SIMULATE_DAYS, 'FOREWARN_SIMULATE_DAYS') ?? 21,
    simulateCatchUpS: int(env.FOREWARN_SIMULATE_CATCH_UP_S, 'FOREWARN_SIMULATE_CATCH_UP_S') ?? 90,
    seed: int(flags.seed, '--seed') ?? int(env.FOREWARN_SEED, 'FOREWARN_SEED') ?? 1,
    brokerUrl: flags.broker ?? env.FOREWARN_BROKER_URL ?? null,
    adminKey: env.FOREWARN_ADMIN_KEY ?? null,
    publicUrl: env.FOREWARN_PUBLIC_URL ?? null,
    grafanaUrl: env.FOREWARN_GRAFANA_URL ?? null,
    healthFlushMs: int(env.FOREWARN_HEALTH_FLUSH_MS, 'FOREWARN_HEALTH_FLUSH_MS') ?? 1000,
    checkpointMs: int(env.FOREWARN_CHECKPOINT_MS, 'FOREWARN_CHECKPOINT_MS') ?? 2000,
    offlineAfterIntervals: Number(env.FOREWARN_OFFLINE_AFTER_INTERVALS ?? 5),
    profile: flags.profile ?? env.FOREWARN_PROFILE ?? 'demo',
    tlsPort: int(flags.tlsPort, '--tls-port') ?? int(env.FOREWARN_MQTT_TLS_PORT, 'FOREWARN_MQTT_TLS_PORT') ?? null,
    tlsCertFile: flags.cert ?? env.FOREWARN_TLS_CERT ?? null,
    tlsKeyFile: flags.key ?? env.FOREWARN_TLS_KEY ?? null,
    wsPort: int(flags.wsPort, '--ws-port') ?? int(env.FOREWARN_MQTT_WS_PORT, 'FOREWARN_MQTT_WS_PORT') ?? null,
    catalogueDir: flags.catalogue ?? (env.FOREWARN_CATALOGUE_DIR || null),
    modelRefreshMs: int(env.FOREWARN_MODEL_REFRESH_MS, 'FOREWARN_MODEL_REFRESH_MS') ?? 3_600_000,
    cluster: listOf(flags.cluster ?? env.FOREWARN_CLUSTER) ?? null,
    roles: listOf(flags.roles ?? env.FOREWARN_ROLES) ?? ['edge', 'worker', 'api'],
    clusterLeaseTtlMs: int(env.FOREWARN_CLUSTER_LEASE_TTL_MS, 'FOREWARN_CLUSTER_LEASE_TTL_MS') ?? 6_000,
  }
  if (!check.Check(cfg)) {
    const errors = [...check.Errors(cfg)].map((e) => `${e.instancePath.slice(1) || 'config'} ${e.message}`)
    throw new ForewarnError(ErrorCode.CONFIG, `invalid configuration: ${errors.join('; ')}`)
  }
  if (cfg.cluster === null && (flags.roles ?? env.FOREWARN_ROLES ?? '') !== '') {
    throw new ForewarnError(ErrorCode.CONFIG, '--roles (FOREWARN_ROLES) needs --cluster (FOREWARN_CLUSTER): one process without a cluster runs every role')
  }
  if (cfg.cluster !== null && cfg.simulate > 0 && !(cfg.roles.includes('edge') && cfg.roles.includes('api'))) {
    throw new ForewarnError(ErrorCode.CONFIG, '--simulate provisions through the API and connects to the broker: with --cluster it needs the roles edge and api in this process')
  }
  if (cfg.cluster !== null && cfg.brokerUrl !== null) {
    throw new ForewarnError(ErrorCode.CONFIG, '--cluster runs the embedded broker as the edge; --broker (an external MQTT broker) is not supported with it yet')
  }
  // With an external broker, --cert and --key without --tls-port are the API's (production profile).
  const apiOnlyTls = cfg.brokerUrl !== null && cfg.tlsPort === null
  if ((!apiOnlyTls && (cfg.tlsPort === null) !== (cfg.tlsCertFile === null)) || (cfg.tlsCertFile === null) !== (cfg.tlsKeyFile === null)) {
    throw new ForewarnError(ErrorCode.CONFIG, 'MQTT over TLS needs all of --tls-port, --cert and --key (FOREWARN_MQTT_TLS_PORT, FOREWARN_TLS_CERT, FOREWARN_TLS_KEY)')
  }
  if (cfg.profile === 'production' && cfg.tlsPort === null && cfg.brokerUrl === null) {
    throw new ForewarnError(ErrorCode.CONFIG, 'the production profile serves devices over TLS only: give --tls-port, --cert and --key (plain MQTT stays on 127.0.0.1 for local tools)')
  }
  if (cfg.profile === 'production' && cfg.tlsCertFile === null && !isLoopback(cfg.host)) {
    throw new ForewarnError(ErrorCode.CONFIG, `the production profile serves the API over TLS on a non-loopback address: give --cert and --key (FOREWARN_TLS_CERT, FOREWARN_TLS_KEY), or --host 127.0.0.1 behind a TLS-terminating proxy (got --host ${cfg.host})`)
  }
  return cfg
}
