/**
 * Insert cost of the journal table on this disk, per row: one statement a row against multi-row
 * statements, with and without a received_at index (WAL, synchronous=FULL, 80 commits of 500):
 *   npx tsx test/ingest/bench-journal-insert.ts
 */
import Database from 'libsql'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
const N = 500, COMMITS = 80
const body = JSON.stringify({ cabinet_temp_c: 4.21, freezer_temp_c: -18.3, compressor_current_a: 1.12, door_open: 0, ambient_temp_c: 21.5, defrost_heater_a: 0, evaporator_temp_c: -25.1, fan_rpm: 1200, power_w: 110.5 })
function run(name: string, schemaIdx: string, mode: 'row' | 'multi', chunk = 50) {
  const dir = mkdtempSync(join(tmpdir(), 'micro-'))
  const db = new Database(join(dir, 'j.db'))
  db.pragma('journal_mode = WAL'); db.pragma('synchronous = FULL')
  db.exec(`CREATE TABLE journal (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, kind INTEGER NOT NULL, boot INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL);
  CREATE UNIQUE INDEX journal_reading_key ON journal(device_id, boot, seq) WHERE kind = 0;
  CREATE UNIQUE INDEX journal_event_key ON journal(device_id, ts, body) WHERE kind = 1; ${schemaIdx}`)
  const one = db.prepare('INSERT OR IGNORE INTO journal (device_id, kind, boot, seq, ts, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
  const multi = db.prepare('INSERT OR IGNORE INTO journal (device_id, kind, boot, seq, ts, body, received_at) VALUES ' + Array(chunk).fill('(?, ?, ?, ?, ?, ?, ?)').join(','))
  const begin = db.prepare('BEGIN'), commit = db.prepare('COMMIT')
  let seq = 0
  const c0 = process.cpuUsage(); const t0 = performance.now()
  let insMs = 0, comMs = 0
  for (let c = 0; c < COMMITS; c++) {
    const ta = performance.now()
    begin.run()
    if (mode === 'row') {
      for (let i = 0; i < N; i++) { const s = seq++; one.run(`dev${s % 500}`, 0, 1, s, 1700000000000 + s, body, 1700000000000) }
    } else {
      const args: unknown[] = new Array(chunk * 7)
      for (let i = 0; i < N; i += chunk) {
        for (let k = 0; k < chunk; k++) { const s = seq++; const o = k * 7; args[o] = `dev${s % 500}`; args[o+1] = 0; args[o+2] = 1; args[o+3] = s; args[o+4] = 1700000000000 + s; args[o+5] = body; args[o+6] = 1700000000000 }
        multi.run(...args)
      }
    }
    const tb = performance.now()
    commit.run()
    insMs += tb - ta; comMs += performance.now() - tb
  }
  const wall = performance.now() - t0; const cpu = process.cpuUsage(c0)
  const rows = N * COMMITS
  console.log(name.padEnd(28), 'insert µs/row', (insMs * 1000 / rows).toFixed(2), 'commit ms', (comMs / COMMITS).toFixed(2), 'cpu µs/row', ((cpu.user + cpu.system) / rows).toFixed(2), 'wall µs/row', (wall * 1000 / rows).toFixed(2))
  db.close(); rmSync(dir, { recursive: true })
}
for (let r = 0; r < 2; r++) {
  run('row + received idx', 'CREATE INDEX jr ON journal(received_at);', 'row')
  run('row, no received idx', '', 'row')
  run('multi50, no received idx', '', 'multi', 50)
  run('multi100 + received idx', 'CREATE INDEX jr ON journal(received_at);', 'multi', 100)
  run('multi100, no received idx', '', 'multi', 100)
}
