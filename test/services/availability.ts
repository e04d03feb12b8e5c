/**
 * Which real servers this machine has, and a `describe` that skips a suite when one is missing —
 * except under CI=true, where a missing server is a failure, never a skip (.ci/run installs them).
 */
import { delimiter, join } from 'node:path'
import { describe, it } from 'vitest'
import { pgBinDir } from '../../servers/postgres.ts'
import { executable } from '../../servers/process.ts'

export type ServiceName = 'influxdb' | 'victoria-metrics' | 'mosquitto' | 'redis' | 'postgres' | 'request-tracker' | 'nats' | 'python3'

/** The binaries each server needs: a bare name is looked up on PATH, an absolute path as is. */
export const serviceBinaries: Readonly<Record<ServiceName, readonly string[]>> = {
  influxdb: ['influxd'],
  'victoria-metrics': ['victoria-metrics'],
  mosquitto: ['mosquitto', 'mosquitto_ctrl'],
  redis: ['redis-server'],
  // Plus initdb and postgres in the bin folder servers/postgres.ts finds (serviceChecks).
  postgres: ['runuser'],
  'request-tracker': ['/usr/sbin/rt-setup-database-5', '/usr/share/request-tracker5/libexec/rt-server'],
  nats: ['/usr/sbin/nats-server'],
  // Not a server: the interpreter the Eclipse Paho interop suite runs on (test/broker/paho.test.ts).
  python3: ['python3'],
}

export const servicePackages: Readonly<Record<ServiceName, string>> = {
  influxdb: 'influxdb',
  'victoria-metrics': 'victoria-metrics',
  mosquitto: 'mosquitto mosquitto-clients',
  redis: 'redis-server',
  postgres: 'postgresql',
  'request-tracker': 'request-tracker5 rt5-standalone rt5-db-sqlite',
  nats: 'nats-server',
  python3: 'python3',
}

function findBinary(name: string): boolean {
  if (name.includes('/')) return executable(name)
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin']
  return dirs.some((d) => d !== '' && executable(join(d, name)))
}

/** Checks beyond fixed binaries: the answer is what is missing, null when nothing is. */
const serviceChecks: Partial<Record<ServiceName, () => string | null>> = {
  postgres: () => {
    try {
      pgBinDir()
      return null
    } catch (err) {
      return (err as Error).message
    }
  },
}

export type Availability = { ok: true } | { ok: false; reason: string }

/** FOREWARN_SERVICES_HIDE=influxdb,redis treats those as missing: to see the skip and CI paths. */
function hidden(name: ServiceName): boolean {
  return (process.env.FOREWARN_SERVICES_HIDE ?? '').split(',').map((s) => s.trim()).includes(name)
}

export function serviceAvailable(name: ServiceName): Availability {
  if (hidden(name)) return { ok: false, reason: `${name} hidden by FOREWARN_SERVICES_HIDE` }
  const missing = serviceBinaries[name].filter((b) => !findBinary(b))
  if (missing.length > 0) return { ok: false, reason: `${name} not installed (missing ${missing.join(', ')}; apt-get install ${servicePackages[name]})` }
  const problem = serviceChecks[name]?.() ?? null
  return problem === null ? { ok: true } : { ok: false, reason: `${name} not installed (${problem})` }
}

export const ciRequiresServices = (): boolean => process.env.CI === 'true'

/**
 * `describe` for a suite that needs real servers. Missing outside CI: the suite is skipped and
 * says why in its name. Missing under CI=true: the suite fails with the reason.
 */
export function describeService(names: ServiceName | ServiceName[], title: string, body: () => void): void {
  const list = Array.isArray(names) ? names : [names]
  const missing = list.map((n) => serviceAvailable(n)).filter((a): a is { ok: false; reason: string } => !a.ok)
  if (missing.length === 0) {
    describe(title, body)
    return
  }
  const reason = missing.map((m) => m.reason).join('; ')
  if (ciRequiresServices()) {
    describe(title, () => {
      it('has the servers it needs (CI=true never skips)', () => {
        throw new Error(reason)
      })
    })
    return
  }
  describe.skip(`${title} [skipped: ${reason}]`, body)
}
