/**
 * A durable FIFO of line-protocol batches on disk: one file per batch, named by a growing sequence
 * number and its line count (`000000000042-5000.lp`). A batch is written to a temporary name,
 * fsynced, renamed and the folder fsynced, so after a crash a segment is either whole or absent.
 * Everything in the spool is older than anything still in memory; replay takes the lowest number.
 */
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'

const NL = Buffer.from('\n')
const SEGMENT = /^(\d{12})-(\d+)\.lp$/

interface Segment {
  id: number
  lines: number
  bytes: number
  file: string
}

export interface SpoolSegment {
  id: number
  /** The segment's bytes as one block of newline-separated lines (none when empty). */
  blocks: Buffer[]
  lines: number
}

export interface Spool {
  readonly dir: string
  bytes(): number
  lines(): number
  segments(): number
  /** Oldest batch, or null when empty. */
  head(): Promise<SpoolSegment | null>
  /** Appends blocks of newline-separated lines holding `lines` lines in all. */
  append(blocks: readonly Buffer[], lines: number): Promise<void>
  remove(id: number): Promise<void>
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export async function openSpool(dir: string): Promise<Spool> {
  await mkdir(dir, { recursive: true })
  const segs: Segment[] = []
  for (const name of await readdir(dir)) {
    const m = SEGMENT.exec(name)
    if (!m) {
      // A temporary file from a write that never completed: the batch was never acknowledged.
      if (name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => undefined)
      continue
    }
    const file = join(dir, name)
    segs.push({ id: Number(m[1]), lines: Number(m[2]), bytes: (await stat(file)).size, file })
  }
  segs.sort((a, b) => a.id - b.id)
  let next = (segs.at(-1)?.id ?? 0) + 1
  let bytes = segs.reduce((s, x) => s + x.bytes, 0)
  let lines = segs.reduce((s, x) => s + x.lines, 0)

  return {
    dir,
    bytes: () => bytes,
    lines: () => lines,
    segments: () => segs.length,
    async head() {
      const s = segs[0]
      if (!s) return null
      const body = await readFile(s.file)
      return { id: s.id, blocks: body.byteLength === 0 ? [] : [body], lines: s.lines }
    },
    async append(blocks, count) {
      const id = next++
      const name = `${String(id).padStart(12, '0')}-${count}.lp`
      const file = join(dir, name)
      const tmp = `${file}.tmp`
      const body = Buffer.concat(blocks.flatMap((b, i) => (i === 0 ? [b] : [NL, b])))
      const fh = await open(tmp, 'w')
      try {
        await fh.writeFile(body)
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, file)
      await fsyncPath(dir)
      segs.push({ id, lines: count, bytes: body.byteLength, file })
      bytes += body.byteLength
      lines += count
    },
    async remove(id) {
      const i = segs.findIndex((s) => s.id === id)
      if (i < 0) return
      const [s] = segs.splice(i, 1)
      if (!s) return
      await unlink(s.file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err
      })
      bytes -= s.bytes
      lines -= s.lines
    },
  }
}
