/**
 * Plumbing for the servers Forewarn starts on loopback (SERVICES.md): free ports, temporary
 * folders, process groups and bounded polling. Every server runs in its own process group so that
 * stopping it also stops whatever it forked (RT workers, PostgreSQL backends), even when those
 * were re-parented. Used by `forewarn bench` and, through thin wrappers, by test/services/.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ErrorCode, ForewarnError } from '../domain/index.ts'

/**
 * The kernel's range for outgoing connections' local ports (`ip_local_port_range`). A port taken
 * from it (the bind-to-port-0 trick) can be handed to some outgoing connection before the server
 * it was meant for binds it: a NATS node's route port went to another node's connection that way
 * ("bind: address already in use" in CI).
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo as number, hi as number]
  } catch {
    // not Linux: the usual default
  }
  return [32768, 60999]
}

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })

/**
 * A port free on 127.0.0.1, outside the range the kernel gives outgoing connections, so only
 * another listener can take it before the server binds it. Falls back to the kernel's choice when
 * no such port is found.
 */
export async function freePort(avoid: ReadonlySet<number> = new Set()): Promise<number> {
  const [lo] = ephemeralRange()
  const floor = 10_000
  if (lo - floor > 1_000) {
    for (let i = 0; i < 50; i++) {
      const port = floor + Math.floor(Math.random() * (lo - floor))
      if (!avoid.has(port) && (await canListen(port))) return port
    }
  }
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** `n` distinct free ports (freePort alone may give one twice before any is bound). */
export async function freePorts(n: number): Promise<number[]> {
  const taken = new Set<number>()
  while (taken.size < n) taken.add(await freePort(taken))
  return [...taken]
}

/** True when `path` is a file this process may execute. */
export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** A fresh folder under the system's temporary folder (reachable by the `postgres` user, too). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `forewarn-${prefix}-`))
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
}

export interface GroupProcess {
  readonly pid: number
  readonly child: ChildProcess
  /** The last few KiB of stdout and stderr, for error messages. */
  output(): string
  exited(): boolean
}

const OUTPUT_KEEP = 8192

/**
 * Groups started and not yet stopped. If this process exits without tearing down (a crash, a
 * test timeout), they are killed on the way out rather than left running detached.
 */
const live = new Set<number>()
let exitHookInstalled = false
function killLeftovers(): void {
  for (const pgid of live) {
    try {
      process.kill(-pgid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
}

/** Starts `cmd` as the leader of a new process group (`detached: true`). */
export function spawnGroup(cmd: string, args: string[], opts: SpawnOptions = {}): GroupProcess {
  const child = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let done = false
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString('utf8')).slice(-OUTPUT_KEEP)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  child.on('exit', () => {
    done = true
  })
  child.on('error', (err) => {
    done = true
    out += `\nspawn error: ${err.message}`
  })
  if (child.pid === undefined) throw new ForewarnError(ErrorCode.CONFIG, `could not start ${cmd}`)
  live.add(child.pid)
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', killLeftovers)
  }
  return { pid: child.pid, child, output: () => out, exited: () => done }
}

/**
 * The live (non-zombie) processes of a group. kill(-pgid, 0) alone is not enough: re-parented
 * children that PID 1 has not reaped yet are zombies that still answer signal 0.
 */
export function groupPids(pgid: number): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue
    }
    // Fields after the parenthesised command: state ppid pgrp …
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(rest[2]) === pgid && rest[0] !== 'Z') pids.push(Number(name))
  }
  return pids
}

/** True while any live (non-zombie) process is in the group. */
export function groupAlive(pgid: number): boolean {
  return groupPids(pgid).length > 0
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

/** Signals the group, waits (bounded) for it to go, then SIGKILLs what is left. */
export async function stopGroup(pgid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  signalGroup(pgid, signal)
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return void live.delete(pgid)
    await sleep(50)
  }
  signalGroup(pgid, 'SIGKILL')
  const hard = Date.now() + 5_000
  while (Date.now() < hard) {
    if (!groupAlive(pgid)) return void live.delete(pgid)
    await sleep(50)
  }
  throw new ForewarnError(ErrorCode.CONFIG, `process group ${pgid} survived SIGKILL`)
}

/**
 * Polls `probe` until it returns true, at most `timeoutMs`. Fails early when the server process
 * has already exited, with its output, instead of waiting out the timeout.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  proc?: GroupProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError = ''
  while (Date.now() < deadline) {
    if (proc?.exited()) throw new ForewarnError(ErrorCode.CONFIG, `${what} exited before it was ready:\n${proc.output()}`)
    try {
      if (await probe()) return
    } catch (err) {
      lastError = (err as Error).message
    }
    await sleep(100)
  }
  throw new ForewarnError(ErrorCode.CONFIG, `${what} not ready after ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}${proc ? `:\n${proc.output()}` : ''}`)
}

/** fetch with a per-request timeout, so a hung server cannot hang a probe. */
export async function fetchWithin(url: string, init: RequestInit = {}, timeoutMs = 2_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
}

/** Starts a server and tears it down (its group and its folder) if it never became ready. */
export async function startOrCleanUp<T>(proc: GroupProcess, dir: string, ready: () => Promise<void>, make: () => T): Promise<T> {
  try {
    await ready()
  } catch (err) {
    await stopGroup(proc.pid, 'SIGKILL', 2_000).catch(() => undefined)
    removeDir(dir)
    throw err
  }
  return make()
}
