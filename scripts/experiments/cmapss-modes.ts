/**
 * Experiment (docs/detection.md, "Operating modes"): C-MAPSS FD001 made to run in six operating
 * conditions, as FD002 and FD004 engines do (`sixConditions` in cli/score-real.ts), for several
 * seeds, scored as score-real scores FD001 (first warning after the 15 % warm-up; timely at
 * 1 – 125 cycles left), with operating modes (the default) and without them. The engine is called
 * directly (score-real goes through replay; the same figures for seed 1). Then the same with one
 * condition per engine withheld from its warm-up rows (`sixConditions(…, { withhold: true })`).
 *
 *   npx tsx scripts/experiments/cmapss-modes.ts [DATA_DIR] [SEEDS=1,2,3]
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createEngine } from '../../detectors/engine.ts'
import { offlineWarmupRows } from '../../detectors/engine-fleet.ts'
import { replaySizing } from '../../cli/replay.ts'
import { sixConditions } from '../../cli/score-real.ts'

const text = readFileSync(join(process.argv[2] ?? '../shared/data', 'cmapss-fd001', 'train_FD001.txt'), 'utf8').trim().split('\n').slice(1)
const engines = new Map<number, number[][]>()
for (const line of text) {
  const r = line.trim().split(/\s+/).slice(0, 26).map(Number)
  const l = engines.get(r[0]!) ?? []
  l.push(r)
  engines.set(r[0]!, l)
}
const multiCondition = (seed: number, withhold = false): Map<number, number[][]> => new Map(sixConditions([...engines], seed, { withhold }).map(([u, rows]) => [u, rows.map((r) => r.slice(2))]))

function score(data: Map<number, number[][]>, modes: boolean): string {
  const left: number[] = []
  let timely = 0, early = 0, missed = 0
  for (const rows of data.values()) {
    const engine = createEngine(replaySizing(rows.length), { modes })
    const warm = offlineWarmupRows(rows.length)
    let first = -1
    rows.forEach((row, i) => {
      const res = engine.process('e', row, i * 3_600_000)
      if (first < 0 && i >= warm && res.score >= 0.5) first = i
    })
    const l = first < 0 ? -1 : rows.length - 1 - first
    if (l < 1) missed++
    else if (l > 125) early++
    else { timely++; left.push(l) }
  }
  left.sort((a, b) => a - b)
  const n = data.size
  const median = left.length === 0 ? NaN : left.length % 2 ? left[(left.length - 1) / 2]! : (left[left.length / 2 - 1]! + left[left.length / 2]!) / 2
  return `timely ${(timely / n).toFixed(2)}, early ${(early / n).toFixed(2)}, missed ${(missed / n).toFixed(2)}, median life left ${median.toFixed(0)} cycles`
}

console.log(`FD001 as it is:           modes ${score(new Map([...engines].map(([u, rows]) => [u, rows.map((r) => r.slice(2))])), true)}`)
for (const seed of (process.argv[3] ?? '1,2,3').split(',').map(Number)) {
  const data = multiCondition(seed)
  console.log(`six conditions, seed ${seed}: modes ${score(data, true)}`)
  console.log(`six conditions, seed ${seed}: none  ${score(data, false)}`)
  console.log(`six conditions, one withheld from the warm-up, seed ${seed}: modes ${score(multiCondition(seed, true), true)}`)
}
