// A TCP proxy on loopback that a test can cut or take down: the chaos suite's API server and chain
// faults, and the settlement suite's RPC outage.
import net from 'node:net';

/** A TCP proxy on 127.0.0.1 in front of a port: `cut()` drops every open connection, `down()`/`up()` refuse new ones. */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly targetPort: number) {}

  async up(): Promise<void> {
    if (this.server) return;
    this.server = net.createServer((s) => {
      const t = net.connect(this.targetPort, '127.0.0.1');
      this.sockets.add(s).add(t);
      const drop = () => { s.destroy(); t.destroy(); this.sockets.delete(s); this.sockets.delete(t); };
      s.on('error', drop).on('close', drop).pipe(t);
      t.on('error', drop).on('close', drop).pipe(s);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Cuts every open connection (watches included); new ones are accepted. */
  cut(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return n;
  }

  async down(): Promise<void> {
    this.cut();
    const srv = this.server;
    this.server = undefined;
    await new Promise<void>((r) => (srv ? srv.close(() => r()) : r()));
  }
}
