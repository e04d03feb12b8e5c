/** `forewarn start` on an open network: data directory permissions, a busy API port. */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { loadStartConfig } from '../../cli/config.ts'
import { startForewarn, type Running } from '../../cli/start.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const mode = (p: string): number => statSync(p).mode & 0o777

function modes(dir: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) out[join(e.parentPath, e.name).slice(dir.length + 1)] = mode(join(e.parentPath, e.name))
  return out
}

async function listenOn(port = 0): Promise<Server> {
  const s = createServer().listen(port, '127.0.0.1')
  await once(s, 'listening')
  return s
}

describe('forewarn start on an open network', () => {
  let dir = ''
  let run: Running | undefined
  const servers: Server[] = []
  afterEach(async () => {
    await run?.stop()
    run = undefined
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('keeps the data directory 0700 and its files 0600, simulated-fleet.json included, also when an older run left them open', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-perm-'))
    const dataDir = join(dir, 'data')
    mkdirSync(join(dataDir, 'old'), { recursive: true, mode: 0o755 })
    chmodSync(dataDir, 0o755)
    writeFileSync(join(dataDir, 'old', 'left-over.json'), '{}', { mode: 0o644 })
    const config = loadStartConfig({ dataDir, mqttPort: 0, apiPort: 0, simulate: 1 }, { FOREWARN_SIMULATE_DAYS: '1', FOREWARN_SIMULATE_CATCH_UP_S: '1' })
    run = await startForewarn(config, pino({ level: 'silent' }))
    expect(mode(dataDir)).toBe(0o700)
    const found = modes(dataDir)
    expect(found['simulated-fleet.json']).toBe(0o600)
    expect(Object.keys(found).some((f) => f.endsWith('.db'))).toBe(true)
    for (const [file, m] of Object.entries(found)) expect([file, m]).toEqual([file, statSync(join(dataDir, file)).isDirectory() ? 0o700 : 0o600])
  })

  it('a busy API port is a FOREWARN_ERR_CONFIG error that names the port, and leaves nothing running', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-busy-'))
    const busy = await listenOn()
    servers.push(busy)
    const apiPort = (busy.address() as { port: number }).port
    const probe = await listenOn()
    const mqttPort = (probe.address() as { port: number }).port
    await new Promise((r) => probe.close(r))
    const config = loadStartConfig({ dataDir: join(dir, 'data'), mqttPort, apiPort, simulate: 0 }, {})
    await expect(startForewarn(config, pino({ level: 'silent' }))).rejects.toMatchObject({
      code: 'FOREWARN_ERR_CONFIG', message: `the API port 127.0.0.1:${apiPort} is already in use: choose another with --api-port (FOREWARN_API_PORT)`,
    })
    // The broker it had started is closed again: its port is free.
    servers.push(await listenOn(mqttPort))
  })

  it('the CLI says so in one line and exits 2, without a stack trace', async () => {
    dir = mkdtempSync(join(tmpdir(), 'forewarn-busy-cli-'))
    const busy = await listenOn()
    servers.push(busy)
    const apiPort = (busy.address() as { port: number }).port
    const cp = spawn(process.execPath, ['bin/forewarn.js', 'start', '--api-port', String(apiPort), '--mqtt-port', '0', '--data-dir', join(dir, 'data')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    cp.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const [code] = (await once(cp, 'exit')) as [number | null]
    expect(code).toBe(2)
    expect(stderr).toBe(`forewarn: FOREWARN_ERR_CONFIG: the API port 127.0.0.1:${apiPort} is already in use: choose another with --api-port (FOREWARN_API_PORT)\n`)
  }, 60_000)
})
