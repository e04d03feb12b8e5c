/**
 * Checking one catalogue file (pure: the caller reads the file). First the JSON Schema
 * (catalogue-schema.ts), then the rules a schema cannot say: ids that must exist, names that must
 * be unique, ranges the right way round, symptoms on something the type's detector can see.
 * Every problem names the file, the field (a JSON pointer) and why.
 */
import { Compile } from 'typebox/compile'
import type { ApplianceSpec } from './catalogue.ts'
import { ApplianceSpecSchema } from './catalogue-schema.ts'
import { ErrorCode, ForewarnError } from './errors.ts'

export interface CatalogueProblem {
  file: string
  /** JSON pointer to the field ('' for the whole file). */
  field: string
  why: string
}

export type CatalogueCheck = { ok: true; spec: ApplianceSpec } | { ok: false; problems: CatalogueProblem[] }

export interface CheckOptions {
  /**
   * Features a type's built-in detector derives beyond its metrics (duty_cycle, …), for the
   * shipped types; a data-defined type's symptoms must be on its own metrics.
   */
  derivedFeatures?: (type: string) => readonly string[] | undefined
}

const compiled = Compile(ApplianceSpecSchema)

export function checkCatalogueFile(raw: unknown, file: string, options: CheckOptions = {}): CatalogueCheck {
  if (!compiled.Check(raw)) {
    const problems: CatalogueProblem[] = []
    for (const e of compiled.Errors(raw)) {
      // TypeBox reports an extra field twice (as `false` schema and as additionalProperties): keep the named one.
      if (e.keyword === 'boolean') continue
      if (e.keyword === 'additionalProperties') {
        const extra = (e.params as { additionalProperties?: string[] }).additionalProperties ?? []
        for (const name of extra) problems.push({ file, field: `${e.instancePath}/${name}`, why: 'unknown field' })
        continue
      }
      if (e.keyword === 'required') {
        const missing = (e.params as { requiredProperties?: string[] }).requiredProperties ?? []
        if (missing.length > 0) {
          for (const name of missing) problems.push({ file, field: `${e.instancePath}/${name}`, why: 'required field is missing' })
          continue
        }
      }
      problems.push({ file, field: e.instancePath, why: e.message })
    }
    return { ok: false, problems: dedupe(problems) }
  }
  const { $schema: _schema, ...spec } = raw as ApplianceSpec & { $schema?: string }
  const problems = rules(spec, file, options)
  return problems.length > 0 ? { ok: false, problems } : { ok: true, spec }
}

function rules(spec: ApplianceSpec, file: string, options: CheckOptions): CatalogueProblem[] {
  const out: CatalogueProblem[] = []
  const at = (field: string, why: string) => out.push({ file, field, why })
  const components = new Set<string>()
  spec.components.forEach((c, i) => {
    if (components.has(c.id)) at(`/components/${i}/id`, `component ${c.id} is defined twice`)
    components.add(c.id)
  })
  const metrics = new Set<string>()
  spec.metrics.forEach((m, i) => {
    if (metrics.has(m.name)) at(`/metrics/${i}/name`, `metric ${m.name} is defined twice`)
    metrics.add(m.name)
    if (m.normal[0] > m.normal[1]) at(`/metrics/${i}/normal`, `low end ${m.normal[0]} is above high end ${m.normal[1]}`)
    if (m.component !== undefined && !components.has(m.component)) at(`/metrics/${i}/component`, `no component ${m.component} in components`)
  })
  const derived = new Set(options.derivedFeatures?.(spec.type) ?? [])
  const codes = new Set<string>()
  const code = (c: string, field: string): void => {
    if (codes.has(c)) at(field, `code ${c} is used twice (fault and firmware codes share one list)`)
    codes.add(c)
  }
  spec.faults.forEach((f, i) => {
    code(f.code, `/faults/${i}/code`)
    if (!components.has(f.component)) at(`/faults/${i}/component`, `no component ${f.component} in components`)
    f.symptoms.forEach((s, j) => {
      if (metrics.has(s.feature) || derived.has(s.feature)) return
      const known = derived.size > 0 ? `neither a metric of ${spec.type} nor a feature its detector derives (${[...derived].join(', ')})` : `not a metric of ${spec.type}`
      at(`/faults/${i}/symptoms/${j}/feature`, `${s.feature} is ${known}`)
    })
  })
  spec.firmwareCodes.forEach((f, i) => {
    code(f.code, `/firmwareCodes/${i}/code`)
    if (!components.has(f.component)) at(`/firmwareCodes/${i}/component`, `no component ${f.component} in components`)
  })
  return out
}

function dedupe(problems: CatalogueProblem[]): CatalogueProblem[] {
  const seen = new Set<string>()
  return problems.filter((p) => {
    const k = `${p.field}\n${p.why}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

export const describeProblem = (p: CatalogueProblem): string => `${p.file}: ${p.field === '' ? '(whole file)' : p.field}: ${p.why}`

/** One FOREWARN_ERR_CONFIG for every problem found, each on its own line. */
export function catalogueError(problems: readonly CatalogueProblem[]): ForewarnError {
  const lines = problems.map((p) => `  ${describeProblem(p)}`)
  return new ForewarnError(ErrorCode.CONFIG, `invalid machine catalogue:\n${lines.join('\n')}`)
}
