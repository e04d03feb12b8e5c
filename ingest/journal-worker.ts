/**
 * Worker thread body of the journal writer (journal-writer.ts): owns one SQLite connection and runs
 * every group commit, inserts and fsync, off the event loop that parses MQTT and sends PUBACKs.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { openJournal, type PendingRow } from './journal.ts'
import { type CommitReply, type CommitRequest, SEP } from './journal-writer.ts'

const port = parentPort
if (port === null) throw new Error('journal-worker.ts runs in a worker thread')
const { dataDir, maxRejects } = workerData as { dataDir: string; maxRejects: number }
const journal = openJournal(dataDir, maxRejects)

port.on('message', (m: CommitRequest | 'close') => {
  if (m === 'close') {
    journal.close()
    port.close()
    return
  }
  const f = m.count > 0 ? m.packed.split(SEP) : []
  const rows: PendingRow[] = new Array<PendingRow>(m.count)
  for (let i = 0, o = 0; i < m.count; i++, o += 6) {
    rows[i] = {
      deviceId: f[o] as string, kind: Number(f[o + 1]), boot: Number(f[o + 2]),
      seq: Number(f[o + 3]), ts: Number(f[o + 4]), body: f[o + 5] as string,
    }
  }
  let reply: CommitReply
  try {
    reply = { ok: true, ids: journal.commit(rows, m.rejects, m.at).ids }
  } catch (err) {
    reply = { ok: false, message: (err as Error).message }
  }
  port.postMessage(reply)
})
