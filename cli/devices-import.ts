/**
 * `forewarn devices import FILE.csv`: provisions a production batch through the API, one
 * `POST /devices` per row, and writes the issued credentials (shown only this once) to a file
 * readable by its owner only. A bad row is reported with its line number and skipped; the
 * others are provisioned. Columns: type, model, serial, region, installDate, warrantyEnd,
 * and optionally extendedWarranty (`component:YYYY-MM-DD;…`) and ownerRef.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { parse } from 'csv-parse/sync'
import { ErrorCode, ForewarnError } from '../domain/index.ts'

export interface DevicesImportOptions {
  file: string
  api: string
  apiKey: string
  out: string
  json?: boolean
}

export interface ImportSummary {
  rows: number
  provisioned: number
  failed: { line: number; serial: string; error: string }[]
  out: string
}

const REQUIRED = ['type', 'model', 'serial', 'region', 'installDate', 'warrantyEnd'] as const

function extended(spec: string | undefined, line: number): { component: string; end: string }[] {
  if (!spec) return []
  return spec.split(';').filter((s) => s.trim() !== '').map((part) => {
    const [component, end] = part.split(':').map((x) => x.trim())
    if (!component || !end) throw new ForewarnError(ErrorCode.BAD_PAYLOAD, `line ${line}: extendedWarranty must look like compressor:2030-01-31;…`)
    return { component, end }
  })
}

/** RFC 4180 quoting, so serials or owner references with commas survive. */
const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s)

export async function runDevicesImport(o: DevicesImportOptions): Promise<ImportSummary> {
  let records: Record<string, string>[]
  try {
    records = parse(await readFile(o.file, 'utf8'), { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<string, string>[]
  } catch (cause) {
    throw new ForewarnError(ErrorCode.CONFIG, `cannot read ${o.file} as CSV with a header row: ${(cause as Error).message}`, { cause })
  }
  const missing = REQUIRED.filter((c) => records.length > 0 && !(c in (records[0] as object)))
  if (missing.length > 0) throw new ForewarnError(ErrorCode.CONFIG, `${o.file} lacks the column(s) ${missing.join(', ')}`)
  const summary: ImportSummary = { rows: records.length, provisioned: 0, failed: [], out: o.out }
  const lines = ['deviceId,username,password,serial']
  for (const [i, r] of records.entries()) {
    const line = i + 2
    const serial = r.serial ?? ''
    try {
      const body = {
        type: r.type, model: r.model, serial, region: r.region, installDate: r.installDate,
        warranty: { standardEnd: r.warrantyEnd, extended: extended(r.extendedWarranty, line) },
        ...(r.ownerRef ? { ownerRef: r.ownerRef } : {}),
      }
      const res = await fetch(`${o.api.replace(/\/+$/, '')}/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      const answer = (await res.json()) as { device?: { id: string }; credentials?: { username: string; password: string }; error?: { message: string } }
      if (res.status !== 201 || !answer.device || !answer.credentials) throw new Error(answer.error?.message ?? `HTTP ${res.status}`)
      lines.push([answer.device.id, answer.credentials.username, answer.credentials.password, serial].map(csvField).join(','))
      summary.provisioned++
    } catch (err) {
      summary.failed.push({ line, serial, error: (err as Error).message })
      process.stderr.write(`line ${line} (serial ${serial || '?'}): ${(err as Error).message}\n`)
    }
  }
  // The passwords are shown only once: keep them where only the operator can read them.
  await writeFile(o.out, `${lines.join('\n')}\n`, { mode: 0o600 })
  process.stderr.write(`provisioned ${summary.provisioned} of ${summary.rows} devices; credentials in ${o.out}\n`)
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
  if (summary.failed.length > 0) process.exitCode = 1
  return summary
}
