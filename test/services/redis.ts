/** Redis from Debian on loopback, no persistence, data folder under a fresh temporary folder. */
import { connect } from 'node:net'
import { freePort, removeDir, spawnGroup, startOrCleanUp, stopGroup, tempDir, waitUntil } from './process.ts'

export interface RedisService {
  url: string
  port: number
  pid: number
  stop(): Promise<void>
}

/** Sends one inline command and resolves with the first reply line (enough for PING). */
export function redisCommand(port: number, line: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port })
    let buf = ''
    s.setTimeout(timeoutMs)
    s.once('connect', () => s.write(`${line}\r\n`))
    s.on('data', (d) => {
      buf += d.toString('utf8')
      if (buf.includes('\r\n')) {
        s.destroy()
        resolve(buf.slice(0, buf.indexOf('\r\n')))
      }
    })
    s.once('error', reject)
    s.once('timeout', () => {
      s.destroy()
      reject(new Error('redis timeout'))
    })
  })
}

export async function startRedis(): Promise<RedisService> {
  const dir = tempDir('redis')
  const port = await freePort()
  const proc = spawnGroup('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir])
  return startOrCleanUp(proc, dir, () => waitUntil('redis-server', async () => (await redisCommand(port, 'PING')) === '+PONG', 10_000, proc), () => ({
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    async stop() {
      await stopGroup(proc.pid)
      removeDir(dir)
    },
  }))
}
