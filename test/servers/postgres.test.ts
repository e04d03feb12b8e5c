import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { pgBinDir } from '../../servers/postgres.ts'
import { removeDir, tempDir } from '../../servers/process.ts'

/** A folder laid out like /usr/lib/postgresql: VERSION/bin holding the named executables. */
function version(root: string, v: string, bins: string[]): string {
  const bin = join(root, v, 'bin')
  mkdirSync(bin, { recursive: true })
  for (const b of bins) {
    writeFileSync(join(bin, b), '#!/bin/sh\n')
    chmodSync(join(bin, b), 0o755)
  }
  return bin
}

describe('pgBinDir', () => {
  let root: string
  beforeEach(() => {
    root = tempDir('pg-versions')
  })
  afterEach(() => removeDir(root))

  it('takes the highest version whose bin folder has initdb and postgres', () => {
    version(root, '9.6', ['initdb', 'postgres'])
    version(root, '13', ['initdb', 'postgres'])
    const v16 = version(root, '16', ['initdb', 'postgres'])
    version(root, '17', ['initdb']) // a client-only or half-removed install
    expect(pgBinDir({}, root)).toBe(v16)
  })

  it('names what it looked for when no version has a server', () => {
    version(root, '15', ['postgres'])
    expect(() => pgBinDir({}, root)).toThrow(`no PostgreSQL server found: looked for initdb and postgres in ${root}/*/bin`)
    expect(() => pgBinDir({}, join(root, 'absent'))).toThrow(`looked for initdb and postgres in ${join(root, 'absent')}/*/bin`)
  })

  it('uses FOREWARN_PG_BIN when set, and refuses one without the server', () => {
    version(root, '16', ['initdb', 'postgres'])
    const own = version(root, 'own', ['initdb', 'postgres'])
    expect(pgBinDir({ FOREWARN_PG_BIN: own }, root)).toBe(own)
    const empty = version(root, 'empty', [])
    expect(() => pgBinDir({ FOREWARN_PG_BIN: empty }, root)).toThrow(`FOREWARN_PG_BIN=${empty} does not hold initdb and postgres`)
  })
})
