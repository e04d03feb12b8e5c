/**
 * A private Request Tracker 5 instance (SQLite) from Debian on loopback: its own site config,
 * database and port. rt-server forks workers, so it runs in its own process group.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fetchWithin, freePort, removeDir, spawnGroup, startOrCleanUp, stopGroup, tempDir, waitUntil } from './process.ts'

const run = promisify(execFile)
const RT_SERVER = '/usr/share/request-tracker5/libexec/rt-server'
const RT_SETUP = '/usr/sbin/rt-setup-database-5'

export interface RequestTrackerService {
  url: string
  port: number
  pid: number
  user: 'root'
  password: 'password'
  /** `Authorization` header value for the REST 2 API. */
  authorization: string
  stop(): Promise<void>
}

export async function startRequestTracker(): Promise<RequestTrackerService> {
  const dir = tempDir('rt')
  const configDir = join(dir, 'site-config.d')
  mkdirSync(configDir)
  const siteConfig = join(dir, 'RT_SiteConfig.pm')
  const port = await freePort()
  writeFileSync(
    siteConfig,
    [
      "Set($DatabaseType, 'SQLite');",
      `Set($DatabaseName, '${join(dir, 'rtdb')}');`,
      "Set($WebPath, '');",
      "Set($WebDomain, '127.0.0.1');",
      `Set($WebPort, ${port});`,
      "Set($LogToSTDERR, 'error');",
      '1;',
      '',
    ].join('\n'),
  )
  const env = { ...process.env, RT_SITE_CONFIG: siteConfig, RT_SITE_CONFIG_DIR: configDir }
  try {
    await run(RT_SETUP, ['--action', 'init', '--skip-create'], { env, timeout: 60_000 })
  } catch (err) {
    removeDir(dir)
    throw new Error(`rt-setup-database-5 failed: ${String((err as { stderr?: string }).stderr ?? err)}`)
  }
  const url = `http://127.0.0.1:${port}`
  const authorization = `Basic ${Buffer.from('root:password').toString('base64')}`
  const proc = spawnGroup(RT_SERVER, ['--port', String(port)], { env })
  const ready = async (): Promise<boolean> =>
    (await fetchWithin(`${url}/REST/2.0/queues/all`, { headers: { authorization } }, 5_000)).status === 200
  return startOrCleanUp(proc, dir, () => waitUntil('rt-server', ready, 60_000, proc), () => ({
    url,
    port,
    pid: proc.pid,
    user: 'root' as const,
    password: 'password' as const,
    authorization,
    async stop() {
      await stopGroup(proc.pid)
      removeDir(dir)
    },
  }))
}
