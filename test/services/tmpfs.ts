/**
 * A small tmpfs of its own, to fill up: a real "disk full" (ENOSPC, SQLITE_FULL) without
 * touching the machine's disks. Mounting needs root (or CAP_SYS_ADMIN); `tmpfsAvailable()` says
 * whether this machine allows it.
 */
import { execFileSync } from 'node:child_process'
import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { removeDir, tempDir } from './process.ts'

export interface SmallDisk {
  dir: string
  /** Writes a filler file until the filesystem is full (ENOSPC). */
  fill(): void
  /** Removes the filler: the space is free again. */
  free(): void
  unmount(): void
}

export function mountSmallDisk(sizeMb: number): SmallDisk {
  const dir = tempDir('smalldisk')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (err) {
    removeDir(dir)
    throw new Error(`cannot mount a ${sizeMb} MB tmpfs: ${String((err as { stderr?: Buffer }).stderr ?? err)}`)
  }
  const filler = join(dir, 'filler')
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a')
      try {
        for (const size of [1 << 20, 4096, 1]) {
          const chunk = Buffer.alloc(size)
          for (;;) {
            try {
              writeSync(fd, chunk)
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break
              throw err
            }
          }
        }
      } finally {
        closeSync(fd)
      }
    },
    free() {
      rmSync(filler, { force: true })
    },
    unmount() {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
      removeDir(dir)
    },
  }
}

let probed: boolean | null = null
export function tmpfsAvailable(): boolean {
  if (probed !== null) return probed
  try {
    mountSmallDisk(1).unmount()
    probed = true
  } catch {
    probed = false
  }
  return probed
}
