/** `forewarn evaluate`: prints the scorecard as a table, or as one JSON line with `--json`. */
import { runEvaluate } from './evaluate.ts'

export async function runEvaluateCommand(opts: { devices: number; days: number; seed: number; json: boolean; detector?: 'appliance' | 'engine' }): Promise<void> {
  const card = await runEvaluate({ devices: opts.devices, days: opts.days, seed: opts.seed, detector: opts.detector ?? 'appliance' })
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(card)}\n`)
    return
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`
  const rows: [string, string][] = [
    ['fault detection rate', pct(card.detectionRate)],
    ['lead time, median', `${card.leadTimeHours.median.toFixed(1)} h`],
    ['lead time, 10th percentile', `${card.leadTimeHours.p10.toFixed(1)} h`],
    ['false warnings per 1,000 device-days', card.falseWarningsPer1000DeviceDays.toFixed(3)],
    ['right fault code', pct(card.faultCodeAccuracy)],
    ['remaining-life median relative error', pct(card.rulMedianRelativeError)],
  ]
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(40)} ${v}\n`)
}
