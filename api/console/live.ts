/**
 * The fleet page's live channel (server-sent events). One shared poller, running only while a
 * page listens, recomputes the fleet view every `intervalMs` and sends `event: fleet` when
 * anything on the page changed; the page then fetches the new content. A comment line every
 * 15 s keeps proxies from closing an idle stream.
 */
import type { FastifyReply } from 'fastify'
import type { ServerResponse } from 'node:http'

export interface LiveChannel {
  attach(reply: FastifyReply): void
  close(): void
  listeners(): number
}

export function createLiveChannel(fingerprint: () => Promise<string>, intervalMs: number): LiveChannel {
  const streams = new Set<ServerResponse>()
  let last: string | null = null
  let timer: NodeJS.Timeout | null = null
  let beat = 0
  let busy = false

  const send = (text: string) => {
    for (const s of streams) s.write(text)
  }
  const tick = async () => {
    if (busy) return
    busy = true
    try {
      const fp = await fingerprint()
      if (last !== null && fp !== last) send(`event: fleet\ndata: ${Date.now()}\n\n`)
      last = fp
      if ((beat += intervalMs) >= 15_000) {
        beat = 0
        send(': keep-alive\n\n')
      }
    } catch {
      // The store is briefly unavailable: try again next tick.
    } finally {
      busy = false
    }
  }
  const stopIfIdle = () => {
    if (streams.size > 0 || timer === null) return
    clearInterval(timer)
    timer = null
    last = null
  }

  return {
    attach(reply) {
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
      res.write('retry: 3000\n\n')
      streams.add(res)
      res.on('close', () => {
        streams.delete(res)
        stopIfIdle()
      })
      if (timer === null) {
        void tick()
        timer = setInterval(() => void tick(), intervalMs)
      }
    },
    close() {
      for (const s of streams) s.end()
      streams.clear()
      stopIfIdle()
    },
    listeners: () => streams.size,
  }
}
