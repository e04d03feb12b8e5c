/**
 * A webhook receiver that does what docs/tickets.md says — verify, then dedupe by webhook-id — and
 * misbehaves on the transport as scripted, one behaviour per request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { verifyWebhookSignature, type CloudEvent } from '../../../api/delivery/webhook.ts'

export const SECRET = 'whsec_' + Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')

export type Behaviour = 'fail500' | 'acceptThenHang' | 'ok' | 'reject400'

export async function startReceiver(script: Behaviour[]) {
  const accepted = new Map<string, CloudEvent>()
  const requests: Array<{ id: string | undefined; verified: boolean; behaviour: Behaviour }> = []
  const hanging = new Set<ServerResponse>()
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const behaviour = script.shift() ?? 'ok'
      const v = verifyWebhookSignature(req.headers, raw, SECRET, 300)
      requests.push({ id: v.ok ? v.id : undefined, verified: v.ok, behaviour })
      if (!v.ok) return void res.writeHead(401).end(v.reason)
      if (behaviour === 'fail500') return void res.writeHead(500).end('database down')
      if (behaviour === 'reject400') return void res.writeHead(400).end('unknown event type')
      const duplicate = accepted.has(v.id)
      if (!duplicate) accepted.set(v.id, JSON.parse(raw.toString('utf8')) as CloudEvent)
      // Accepted and stored, but the answer never arrives in time: the sender must retry.
      if (behaviour === 'acceptThenHang') return void hanging.add(res)
      res.writeHead(duplicate ? 409 : 200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/forewarn`
  return {
    url, accepted, requests,
    async stop() {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
