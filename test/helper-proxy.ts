/**
 * A TCP proxy in front of MariaDB that a test can cut and restore, to make
 * the database vanish for the code under test while the test itself still
 * reads the database directly.
 */
import net from 'node:net'

export interface Proxy {
  port: number
  /** Drop every connection and refuse new ones. */
  cut(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

export async function tcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<Proxy> {
  const sockets = new Set<net.Socket>()
  const track = (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)) }
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost)
    track(client); track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const stopListening = () => new Promise<void>((resolve) => server.close(() => resolve()))
  return {
    port,
    async cut() {
      const closed = stopListening()
      for (const s of sockets) s.destroy()
      await closed
    },
    restore: () => new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) }),
    async close() {
      for (const s of sockets) s.destroy()
      if (server.listening) await stopListening()
    },
  }
}
