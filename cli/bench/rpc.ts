/**
 * The bench runs the system under test, the load generator and the detector loops in separate
 * processes (so one's CPU and memory never count as another's) and drives them over the IPC
 * channel with tiny request/response calls.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

type Method = (params: never) => unknown
interface Request { id: number; method: string; params: unknown }
interface Response { id: number; result?: unknown; error?: string }

/** In a child: answer the parent's calls until it disconnects. */
export function serveRpc(methods: Record<string, Method>): void {
  process.on('message', (msg: Request) => {
    const fn = methods[msg.method]
    Promise.resolve()
      .then(() => {
        if (!fn) throw new Error(`no method ${msg.method}`)
        return fn(msg.params as never)
      })
      .then(
        (result) => process.send?.({ id: msg.id, result: result ?? null } satisfies Response),
        (err: unknown) => process.send?.({ id: msg.id, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies Response),
      )
  })
  process.on('disconnect', () => process.exit(0))
}

export interface Child {
  pid: number
  call<T>(method: string, params?: unknown, timeoutMs?: number): Promise<T>
  /** Asks the child to leave (disconnect), then SIGKILLs it after `graceMs`. */
  stop(graceMs?: number): Promise<void>
}

export interface SpawnOptions {
  nodeArgs?: string[]
  /** Raise the open-files limit to the hard limit first (10,000 sockets need 10,000 descriptors). */
  raiseFdLimit?: boolean
  env?: NodeJS.ProcessEnv
}

/**
 * Starts a module of this folder (named by its `.ts` file) as a child with an IPC channel: the
 * built `.js` with plain Node when this code runs built, the `.ts` through tsx from source.
 */
export function spawnChild(module: string, o: SpawnOptions = {}): Child {
  const built = import.meta.url.endsWith('.js')
  const file = fileURLToPath(new URL(built ? module.replace(/\.ts$/, '.js') : module, import.meta.url))
  const node = [process.execPath, ...(built ? [] : ['--import', 'tsx']), ...(o.nodeArgs ?? []), file]
  const limit = o.raiseFdLimit ? 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; ' : ''
  // The child's stdout goes to our stderr: the bench's stdout carries only the table and the JSON line.
  const cp: ChildProcess = spawn('/bin/sh', ['-c', `${limit}exec "$@"`, 'sh', ...node], {
    stdio: ['ignore', 2, 2, 'ipc'],
    env: { ...process.env, ...o.env },
  })
  let next = 1
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const exited = new Promise<void>((resolve) => cp.once('exit', () => resolve()))
  cp.on('message', (msg: Response) => {
    const w = waiting.get(msg.id)
    if (!w) return
    waiting.delete(msg.id)
    if (msg.error !== undefined) w.reject(new Error(`${module}: ${msg.error}`))
    else w.resolve(msg.result)
  })
  cp.once('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`${module} exited (${code ?? signal}) during a call`))
    waiting.clear()
  })
  return {
    pid: cp.pid ?? -1,
    call<T>(method: string, params?: unknown, timeoutMs = 300_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const id = next++
        const timer = setTimeout(() => {
          waiting.delete(id)
          reject(new Error(`${module}.${method} timed out after ${timeoutMs} ms`))
        }, timeoutMs)
        waiting.set(id, {
          resolve: (v) => { clearTimeout(timer); resolve(v as T) },
          reject: (e) => { clearTimeout(timer); reject(e) },
        })
        cp.send({ id, method, params } satisfies Request)
      })
    },
    async stop(graceMs = 10_000) {
      if (cp.exitCode !== null || cp.signalCode !== null) return
      if (cp.connected) cp.disconnect()
      const timer = setTimeout(() => cp.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
}

/** A high-resolution wall clock in ms, comparable across processes on one machine. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now()
}

/** Offset of a child's clock from ours, from the call with the shortest round trip. */
export async function clockOffset(child: Child): Promise<number> {
  let best = { rtt: Infinity, off: 0 }
  for (let i = 0; i < 7; i++) {
    const t0 = wallMs()
    const tc = await child.call<number>('clock')
    const t1 = wallMs()
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, off: tc - (t0 + t1) / 2 }
  }
  return best.off
}
