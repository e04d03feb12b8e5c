/**
 * Catalogue files from a folder (`forewarn start --catalogue DIR`, `forewarn catalogue check DIR`):
 * every `DIR/*.json` is one machine type (catalogue/schema.json). All files are checked before any
 * is used, and every problem is reported at once, naming file, field and why.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { extractorOf } from '../detectors/extractors.ts'
import { catalogueJsonSchema } from '../domain/catalogue-schema.ts'
import { catalogueError, checkCatalogueFile, describeProblem, type CatalogueProblem } from '../domain/catalogue-file.ts'
import { ErrorCode, ForewarnError, installCatalogue, shippedSpecs, type ApplianceSpec } from '../domain/index.ts'

/** What `forewarn start` needs to know about a symptom feature: the built-in detector's derived features. */
export const derivedFeatures = (type: string): readonly string[] | undefined => extractorOf(type)?.features

export interface LoadedFile {
  file: string
  spec: ApplianceSpec
}

/** Checks every `DIR/*.json` (schema.json excepted): the types, or problems for each bad file. */
export function checkCatalogueDir(dir: string): { files: LoadedFile[]; problems: CatalogueProblem[] } {
  const abs = resolve(dir)
  let names: string[]
  try {
    if (!statSync(abs).isDirectory()) throw new Error('not a directory')
    names = readdirSync(abs).filter((n) => n.endsWith('.json') && n !== 'schema.json').sort()
  } catch (cause) {
    throw new ForewarnError(ErrorCode.CONFIG, `catalogue folder ${dir} cannot be read: ${(cause as Error).message}`, { cause })
  }
  const files: LoadedFile[] = []
  const problems: CatalogueProblem[] = []
  const byType = new Map<string, string>()
  for (const name of names) {
    const file = join(abs, name)
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      problems.push({ file, field: '', why: `not readable JSON: ${(err as Error).message}` })
      continue
    }
    const res = checkCatalogueFile(raw, file, { derivedFeatures })
    if (!res.ok) {
      problems.push(...res.problems)
      continue
    }
    const other = byType.get(res.spec.type)
    if (other !== undefined) {
      problems.push({ file, field: '/type', why: `type ${res.spec.type} is already defined by ${basename(other)}` })
      continue
    }
    byType.set(res.spec.type, file)
    files.push({ file, spec: res.spec })
  }
  return { files, problems }
}

/** Loads DIR and installs it over the shipped types; a bad file stops here with FOREWARN_ERR_CONFIG. */
export function installCatalogueDir(dir: string | null): LoadedFile[] {
  if (dir === null) {
    installCatalogue()
    return []
  }
  const { files, problems } = checkCatalogueDir(dir)
  if (problems.length > 0) throw catalogueError(problems)
  installCatalogue(files.map((f) => f.spec))
  return files
}

/** `forewarn catalogue check DIR`: exit code 0 when every file is good, 1 otherwise. */
export function runCatalogueCheck(dir: string, out: NodeJS.WritableStream = process.stdout): number {
  const { files, problems } = checkCatalogueDir(dir)
  const shipped = new Set(shippedSpecs.map((s) => s.type))
  for (const f of files) {
    const what = shipped.has(f.spec.type) ? 'replaces the shipped type' : 'new type'
    out.write(`ok   ${f.file}: ${f.spec.type} (${what}; ${f.spec.metrics.length} metrics, ${f.spec.components.length} components, ${f.spec.faults.length} fault modes)\n`)
  }
  for (const p of problems) out.write(`bad  ${describeProblem(p)}\n`)
  out.write(problems.length === 0 ? `${files.length} machine type${files.length === 1 ? '' : 's'}, all valid\n` : `${problems.length} problem${problems.length === 1 ? '' : 's'}\n`)
  return problems.length === 0 ? 0 : 1
}

/** The text of catalogue/schema.json (generated: a test fails when the file differs). */
export const catalogueSchemaText = (): string => `${JSON.stringify(catalogueJsonSchema(), null, 2)}\n`
