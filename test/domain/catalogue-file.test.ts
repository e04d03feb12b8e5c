/** Catalogue files: the published schema, each bad field named with why, and the rules a schema cannot say. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { catalogueSchemaText, checkCatalogueDir, derivedFeatures, installCatalogueDir, runCatalogueCheck } from '../../cli/catalogue.ts'
import { checkCatalogueFile, type CatalogueProblem } from '../../domain/catalogue-file.ts'
import { catalogue, ErrorCode, ForewarnError, installCatalogue, loadedTypes, metricNames, shippedSpecs } from '../../domain/index.ts'

const pumpFile = join(import.meta.dirname, '../fixtures/catalogue/circulation_pump.json')
const pump = (): Record<string, unknown> => JSON.parse(readFileSync(pumpFile, 'utf8')) as Record<string, unknown>

function problems(raw: unknown): CatalogueProblem[] {
  const r = checkCatalogueFile(raw, 'pump.json', { derivedFeatures })
  return r.ok ? [] : r.problems
}

const DELETE = Symbol('delete')

/** The pump file with the field at a JSON pointer set to `value` (or deleted). */
function mutate(pointer: string, value: unknown): Record<string, unknown> {
  const o = pump()
  const keys = pointer.split('/').slice(1)
  let at = o as Record<string, unknown>
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>
  const last = keys.at(-1)!
  if (value === DELETE) delete at[last]
  else at[last] = value
  return o
}

const fault = (over: Record<string, unknown>) => [{ code: 'CP-CAV', component: 'pump', name: 'Cavitation', description: 'x', impact: 'high', parts: [], symptoms: [{ feature: 'flow_l_min', direction: 'down' }], ...over }]

afterEach(() => installCatalogue())

describe('catalogue file checks', () => {
  it('accepts the shipped files and the test pump, and publishes the schema it checks with', () => {
    for (const spec of shippedSpecs) expect(problems(spec)).toEqual([])
    expect(problems(pump())).toEqual([])
    expect(readFileSync(join(import.meta.dirname, '../../catalogue/schema.json'), 'utf8')).toBe(catalogueSchemaText())
  })

  it.each([
    ['a missing field', '/reportingIntervalS', DELETE, '/reportingIntervalS', 'required field is missing'],
    ['an unknown field', '/colour', 'red', '/colour', 'unknown field'],
    ['a bad type id', '/type', 'Circulation Pump', '/type', 'must match pattern'],
    ['a zero reporting interval', '/reportingIntervalS', 0, '/reportingIntervalS', 'must be > 0'],
    ['a metric name with a capital', '/metrics/2/name', 'Current', '/metrics/2/name', 'must match pattern'],
    ['a normal range of one number', '/metrics/1/normal', [0], '/metrics/1/normal', 'must not have fewer than 2 items'],
    ['a normal range upside down', '/metrics/3/normal', [2, -1], '/metrics/3/normal', 'low end 2 is above high end -1'],
    ['a metric defined twice', '/metrics/4/name', 'current_a', '/metrics/4/name', 'metric current_a is defined twice'],
    ['a metric on a component that does not exist', '/metrics/0/component', 'gearbox', '/metrics/0/component', 'no component gearbox in components'],
    ['no components', '/components', [], '/components', 'must not have fewer than 1 items'],
    ['a component defined twice', '/components/1/id', 'pump', '/components/1/id', 'component pump is defined twice'],
    ['a warranty flag that is not a boolean', '/components/0/extendedWarranty', 'yes', '/components/0/extendedWarranty', 'must be boolean'],
    ['a fault on a component that does not exist', '/faults', fault({ component: 'impeller' }), '/faults/0/component', 'no component impeller in components'],
    ['a symptom on something the type does not measure', '/faults', fault({ symptoms: [{ feature: 'duty_cycle', direction: 'up' }] }), '/faults/0/symptoms/0/feature', 'duty_cycle is not a metric of circulation_pump'],
    ['a symptom direction that is not up or down', '/faults', fault({ symptoms: [{ feature: 'flow_l_min', direction: 'sideways' }] }), '/faults/0/symptoms/0/direction', 'must'],
    ['a fault without symptoms', '/faults', fault({ symptoms: [] }), '/faults/0/symptoms', 'must not have fewer than 1 items'],
    ['a firmware code used twice', '/firmwareCodes', [
      { code: 'E1', component: 'motor', meaning: 'x', severity: 'warning', parts: [] }, { code: 'E1', component: 'pump', meaning: 'y', severity: 'critical', parts: [] },
    ], '/firmwareCodes/1/code', 'code E1 is used twice'],
  ] as [string, string, unknown, string, string][])('names the field and why for %s', (_what, pointer, value, field, why) => {
    const found = problems(mutate(pointer, value))
    expect(found.length).toBeGreaterThan(0)
    expect(found.map((p) => p.field)).toContain(field)
    const p = found.find((x) => x.field === field)!
    expect(p.file).toBe('pump.json')
    expect(p.why).toContain(why)
  })

  it('lets a shipped type\'s symptoms use the features its detector derives, and only those', () => {
    const fridge = structuredClone(catalogue.refrigerator)
    expect(problems(fridge)).toEqual([])
    ;(fridge.faults[0]!.symptoms[0] as { feature: string }).feature = 'door_slams'
    expect(problems(fridge)).toEqual([expect.objectContaining({ field: '/faults/0/symptoms/0/feature', why: expect.stringContaining('door_slams is neither a metric of refrigerator nor a feature its detector derives') })])
  })
})

describe('catalogue folders', () => {
  let dir = ''
  afterEach(() => { if (dir) rmSync(dir, { recursive: true, force: true }) })
  const folder = (files: Record<string, string>): string => {
    dir = mkdtempSync(join(tmpdir(), 'fw-cat-'))
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
    return dir
  }

  it('adds new types and replaces a shipped one with the same type', () => {
    const fridge = { ...structuredClone(catalogue.refrigerator), name: 'Fridge (operator file)', models: ['OP-1'] }
    const d = folder({ 'pump.json': readFileSync(pumpFile, 'utf8'), 'fridge.json': JSON.stringify(fridge), 'schema.json': catalogueSchemaText(), 'notes.txt': 'ignored' })
    const files = installCatalogueDir(d)
    expect(files.map((f) => f.spec.type).sort()).toEqual(['circulation_pump', 'refrigerator'])
    expect(loadedTypes().sort()).toEqual(['air_conditioner', 'circulation_pump', 'refrigerator', 'washing_machine', 'water_heater'])
    expect(catalogue.refrigerator.name).toBe('Fridge (operator file)')
    expect([...(metricNames.circulation_pump ?? [])]).toContain('flow_l_min')
    installCatalogueDir(null)
    expect(loadedTypes()).not.toContain('circulation_pump')
    expect(catalogue.refrigerator.name).toBe('Refrigerator')
  })

  it('stops with FOREWARN_ERR_CONFIG naming every bad file, field and why, and loads nothing', () => {
    const bad = mutate('/metrics/0/unit', '')
    const d = folder({ 'a-pump.json': JSON.stringify(bad), 'b-broken.json': '{ "type": ', 'c-pump-again.json': readFileSync(pumpFile, 'utf8'), 'd-pump-twice.json': readFileSync(pumpFile, 'utf8') })
    let err: unknown
    try { installCatalogueDir(d) } catch (e) { err = e }
    expect(err).toBeInstanceOf(ForewarnError)
    expect((err as ForewarnError).code).toBe(ErrorCode.CONFIG)
    const msg = (err as ForewarnError).message
    expect(msg).toContain(`${join(d, 'a-pump.json')}: /metrics/0/unit: must not have fewer than 1 characters`)
    expect(msg).toContain(`${join(d, 'b-broken.json')}: (whole file): not readable JSON`)
    expect(msg).toContain(`${join(d, 'd-pump-twice.json')}: /type: type circulation_pump is already defined by c-pump-again.json`)
    expect(loadedTypes()).not.toContain('circulation_pump')
    expect(() => checkCatalogueDir(join(d, 'nope'))).toThrow(/catalogue folder .* cannot be read/)
  })

  it('`catalogue check` prints each file\'s verdict and exits 1 on a problem', () => {
    const out: string[] = []
    const sink = { write: (s: string) => { out.push(s); return true } } as unknown as NodeJS.WritableStream
    expect(runCatalogueCheck(join(import.meta.dirname, '../../catalogue'), sink)).toBe(0)
    expect(out.at(-1)).toBe('4 machine types, all valid\n')
    out.length = 0
    const d = folder({ 'pump.json': JSON.stringify(mutate('/components', DELETE)) })
    expect(runCatalogueCheck(d, sink)).toBe(1)
    expect(out.join('')).toContain(`bad  ${join(d, 'pump.json')}: /components: required field is missing`)
  })
})
