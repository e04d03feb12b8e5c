/**
 * A Request Tracker 5 whose server can be stopped and started again on the same port and database
 * (test/services/request-tracker.ts removes its database on stop, so an outage cannot be played
 * with it). Set-up as SERVICES.md describes; process plumbing from test/services/process.ts.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fetchWithin, freePort, removeDir, spawnGroup, stopGroup, tempDir, waitUntil, type GroupProcess } from '../../services/process.ts'

const run = promisify(execFile)
const RT_SERVER = '/usr/share/request-tracker5/libexec/rt-server'
const RT_SETUP = '/usr/sbin/rt-setup-database-5'

export interface RestartableRt {
  url: string
  user: 'root'
  password: 'password'
  authorization: string
  /** Stops the server, keeps the database. */
  pause(): Promise<void>
  /** Starts the server again on the same port and database. */
  resume(): Promise<void>
  stop(): Promise<void>
}

export async function startRestartableRt(): Promise<RestartableRt> {
  const dir = tempDir('rt-delivery')
  const configDir = join(dir, 'site-config.d')
  mkdirSync(configDir)
  const siteConfig = join(dir, 'RT_SiteConfig.pm')
  const port = await freePort()
  writeFileSync(siteConfig, [
    "Set($DatabaseType, 'SQLite');",
    `Set($DatabaseName, '${join(dir, 'rtdb')}');`,
    "Set($WebPath, '');",
    "Set($WebDomain, '127.0.0.1');",
    `Set($WebPort, ${port});`,
    "Set($LogToSTDERR, 'error');",
    '1;',
    '',
  ].join('\n'))
  const env = { ...process.env, RT_SITE_CONFIG: siteConfig, RT_SITE_CONFIG_DIR: configDir }
  try {
    await run(RT_SETUP, ['--action', 'init', '--skip-create'], { env, timeout: 60_000 })
  } catch (err) {
    removeDir(dir)
    throw new Error(`rt-setup-database-5 failed: ${String((err as { stderr?: string }).stderr ?? err)}`)
  }
  const url = `http://127.0.0.1:${port}`
  const authorization = `Basic ${Buffer.from('root:password').toString('base64')}`
  let proc: GroupProcess | null = null
  const ready = async () => (await fetchWithin(`${url}/REST/2.0/queues/all`, { headers: { authorization } }, 5_000)).status === 200

  async function resume(): Promise<void> {
    if (proc !== null) return
    const p = spawnGroup(RT_SERVER, ['--port', String(port)], { env })
    proc = p
    await waitUntil('rt-server', ready, 60_000, p)
  }
  async function pause(): Promise<void> {
    if (proc === null) return
    const pid = proc.pid
    proc = null
    await stopGroup(pid)
  }
  try {
    await resume()
  } catch (err) {
    await pause().catch(() => undefined)
    removeDir(dir)
    throw err
  }
  return {
    url, user: 'root', password: 'password', authorization, pause, resume,
    async stop() {
      await pause()
      removeDir(dir)
    },
  }
}
