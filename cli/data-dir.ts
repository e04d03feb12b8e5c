/**
 * The data directory holds device MQTT passwords (simulated-fleet.json), the records and journal
 * databases and API key digests: owner only, 0700 for directories and 0600 for files, including
 * those an earlier version left 0755/0644.
 */
import { chmodSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

export const DATA_DIR_MODE = 0o700
export const DATA_FILE_MODE = 0o600

export function restrictDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE })
  chmodSync(dir, DATA_DIR_MODE)
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name)
    if (e.isDirectory()) chmodSync(path, DATA_DIR_MODE)
    else if (e.isFile()) chmodSync(path, DATA_FILE_MODE)
  }
}
