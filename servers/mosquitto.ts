/** Mosquitto from Debian as an external MQTT broker, on its own loopback port (not the system 1883). */
import { execFileSync } from 'node:child_process'
import { copyFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { freePort, removeDir, spawnGroup, startOrCleanUp, stopGroup, tempDir, waitUntil } from './process.ts'

export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so'

export interface MosquittoService {
  url: string
  /** The instance's folder (the dynamic-security state file lives here). */
  dir: string
  port: number
  pid: number
  stop(): Promise<void>
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.setTimeout(1_000)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
    s.once('timeout', () => {
      s.destroy()
      resolve(false)
    })
  })
}

/**
 * `passwordFile` (made with mosquitto_passwd) and `aclFile` are copied into the instance's folder.
 * `dynsec` loads the dynamic-security plugin with a fresh state file whose only client is that
 * admin (made by `mosquitto_ctrl dynsec init`); anonymous access is then off.
 */
export async function startMosquitto(opts: {
  passwordFile?: string
  aclFile?: string
  dynsec?: { adminUsername: string; adminPassword: string }
  /** More mosquitto.conf lines (e.g. `max_queued_messages 100000`). */
  extraConfig?: string[]
} = {}): Promise<MosquittoService> {
  const dir = tempDir('mosquitto')
  const port = await freePort()
  const lines = [
    // Started as root, mosquitto would switch to its own user and lose access to our files.
    'user root',
    'per_listener_settings false',
    'persistence false',
    'log_dest stderr',
    `listener ${port} 127.0.0.1`,
  ]
  if (opts.passwordFile) {
    copyFileSync(opts.passwordFile, join(dir, 'passwd'))
    lines.push('allow_anonymous false', `password_file ${join(dir, 'passwd')}`)
  } else if (opts.dynsec) {
    const state = join(dir, 'dynamic-security.json')
    execFileSync('mosquitto_ctrl', ['dynsec', 'init', state, opts.dynsec.adminUsername, opts.dynsec.adminPassword], { stdio: 'ignore' })
    lines.push('allow_anonymous false', `plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${state}`)
  } else {
    lines.push('allow_anonymous true')
  }
  if (opts.aclFile) {
    copyFileSync(opts.aclFile, join(dir, 'acl'))
    lines.push(`acl_file ${join(dir, 'acl')}`)
  }
  lines.push(...(opts.extraConfig ?? []))
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, lines.join('\n') + '\n')
  const proc = spawnGroup('mosquitto', ['-c', conf])
  return startOrCleanUp(proc, dir, () => waitUntil('mosquitto', () => tcpOpen(port), 10_000, proc), () => ({
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    port,
    pid: proc.pid,
    async stop() {
      await stopGroup(proc.pid)
      removeDir(dir)
    },
  }))
}
