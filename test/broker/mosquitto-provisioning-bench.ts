/**
 * What provisioning costs on Mosquitto's dynamic-security plugin as the fleet grows: it rewrites
 * its whole JSON state file on every change, so each device gets slower to add.
 * `npx tsx test/broker/mosquitto-provisioning-bench.ts [devices=1000]`
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { createMosquittoDynsec } from '../../broker/mosquitto.ts'
import { startMosquitto } from '../services/mosquitto.ts'

const devices = Number(process.argv[2] ?? 1000)
const ADMIN = { adminUsername: 'bench-admin', adminPassword: 'bench-admin-secret-0123' }
const broker = await startMosquitto({ dynsec: ADMIN })
const dynsec = await createMosquittoDynsec({ url: broker.url, ...ADMIN })
try {
  await dynsec.ensurePipelineAccount('svc', 'svc-secret-0123456789')
  const window = Math.max(1, Math.floor(devices / 10))
  let t = performance.now()
  for (let i = 0; i < devices; i++) {
    await dynsec.provisionDevice(`ref-${i.toString(36).padStart(6, '0')}`, `pw-${i}-0123456789abcdef`)
    if ((i + 1) % window === 0) {
      const now = performance.now()
      const bytes = statSync(join(broker.dir, 'dynamic-security.json')).size
      console.log(`devices ${i + 1}: ${((now - t) / window).toFixed(1)} ms per device (last ${window}), state file ${(bytes / 1024).toFixed(0)} KiB`)
      t = now
    }
  }
  t = performance.now()
  await dynsec.rotateDevice('ref-000000', 'pw-rotated-0123456789')
  console.log(`rotate at ${devices} devices: ${(performance.now() - t).toFixed(1)} ms`)
  t = performance.now()
  await dynsec.revokeDevice('ref-000001')
  console.log(`revoke at ${devices} devices: ${(performance.now() - t).toFixed(1)} ms`)
} finally {
  await dynsec.close()
  await broker.stop()
}
