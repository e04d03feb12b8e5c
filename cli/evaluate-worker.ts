/** Worker thread body for `runEvaluate`: one slice of the fleet, results posted back. */
import { parentPort, workerData } from 'node:worker_threads'
import type { FleetMember } from '../simulators/appliance.ts'
import { runSlice } from './evaluate.ts'

const { members, days, detector } = workerData as { members: FleetMember[]; days: number; detector: 'appliance' | 'engine' }
parentPort?.postMessage(runSlice(members, days, detector))
