// metrics/: the opt-in HTTP endpoint (metrics.listen) that Prometheus scrapes: GET /metrics in
// the text exposition format, nothing else. Each scrape reads the status afresh.
import { createServer, type Server } from 'node:http';
import { BlockList, type Socket } from 'node:net';
import type { MetricsSettings } from '../types/index.js';

type Scrape = { readonly contentType: string; readonly body: string };

/** Connections at once, all sources together: Prometheus holds one per server scraping (two for an HA pair). */
export const MAX_CONNECTIONS = 8;
/** Connections at once from one address; the rest of MAX_CONNECTIONS stays for other sources. */
export const MAX_PER_SOURCE = 4;
/** A scrape reads conntrack and counters: requests within this of the last share its answer. */
export const SCRAPE_REUSE_MS = 1000;
// Timeouts of a few seconds, as nginx and node_exporter bound a client: Prometheus sends its
// request as soon as it is connected, so a connection silent for seconds is not a scrape.
/** The whole request line and headers, counted from the connection (Node's default: 60 s). */
const HEADERS_TIMEOUT_MS = 5_000;
/** The whole request; must not be less than the headers' (Node's default: 300 s). */
const REQUEST_TIMEOUT_MS = 5_000;
/** How often Node looks for connections over those two: its default of 30 s lets them stay 30 s over. */
const CHECK_INTERVAL_MS = 1_000;
/** An idle keep-alive connection after an answer (Node's default: 5 s). */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** No byte either way for this long: an answer the client does not read. Prometheus's default scrape_timeout. */
const SOCKET_IDLE_TIMEOUT_MS = 10_000;

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
/** 127.0.0.0/8, ::1 and ::ffff:127.x in any spelling; 0.0.0.0 and :: are every address, not loopback. */
export const isLoopback = (host: string): boolean => LOOPBACK.check(host, host.includes(':') ? 'ipv6' : 'ipv4');

/** A connection the server holds: where from, and how many of its requests are being answered. */
type Held = { readonly source: string; answering: number };

export class MetricsServer {
  private readonly server: Server;
  private inflight: Promise<Scrape> | undefined;
  private last: { readonly at: number; readonly scrape: Scrape } | undefined;
  /** Least recently active first: in order of connection, moved to the end after each answer. */
  private readonly held = new Map<Socket, Held>();

  /** `onNotice`: a warning for the log (a scrape that failed, a listen beyond loopback). */
  constructor(
    readonly listen: MetricsSettings,
    private readonly read: () => Promise<Scrape>,
    private readonly onNotice: (message: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.server = createServer(
      {
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        connectionsCheckingInterval: CHECK_INTERVAL_MS,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      },
      (req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET, HEAD' }).end('only GET\n');
          return;
        }
        if (path !== '/metrics') {
          res.writeHead(path === '/' ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' }).end('uplinkd metrics: GET /metrics\n');
          return;
        }
        this.scrape().then(
          (m) => res.writeHead(200, { 'content-type': m.contentType }).end(req.method === 'HEAD' ? undefined : m.body),
          (err: unknown) => {
            onNotice(`metrics scrape failed: ${(err as Error).message}`);
            res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
          },
        );
      },
    );
    // Not server.maxConnections: Node drops a connection over it before anyone sees it, so
    // 8 silent connections shut out every scrape (issue 26). The caps are admit()'s instead.
    this.server.setTimeout(SOCKET_IDLE_TIMEOUT_MS);
    this.server.on('connection', (socket: Socket) => this.admit(socket));
    this.server.on('request', (req, res) => {
      const socket = req.socket;
      const held = this.held.get(socket);
      if (!held) return;
      held.answering++;
      res.once('close', () => {
        held.answering--;
        // Answered: now the most recently active, the last to be pushed out.
        if (this.held.delete(socket)) this.held.set(socket, held);
      });
    });
  }

  /**
   * The caps, as nginx's limit_conn: at most MAX_PER_SOURCE connections from one address and
   * MAX_CONNECTIONS in all. A new connection over a cap pushes out the least recently active
   * connection (of that address, or of all) that is not being answered: one that has sent no
   * complete request yet, or a keep-alive one between requests. Neither costs a scrape: Prometheus
   * sends its request at once, and reconnects when a kept-alive connection closes. So connections
   * that just sit there cannot shut a scrape out, whoever holds them, even from the scraper's own
   * address (a local attacker's). Only connections being answered are safe; when all are, the
   * newcomer is dropped. A flood of new connections from the scraper's address can still push a
   * scrape out before its request is read: no cap by address tells the two apart.
   */
  private admit(socket: Socket): void {
    const source = socket.remoteAddress;
    if (source === undefined) {
      socket.destroy();
      return;
    }
    let fromSource = 0;
    for (const h of this.held.values()) if (h.source === source) fromSource++;
    if ((fromSource >= MAX_PER_SOURCE && !this.pushOut((h) => h.source === source)) || (this.held.size >= MAX_CONNECTIONS && !this.pushOut(() => true))) {
      socket.destroy();
      return;
    }
    this.held.set(socket, { source, answering: 0 });
    socket.once('close', () => this.held.delete(socket));
  }

  /** Closes the least recently active connection that matches and is not being answered. */
  private pushOut(match: (h: Held) => boolean): boolean {
    for (const [socket, h] of this.held) {
      if (h.answering > 0 || !match(h)) continue;
      this.held.delete(socket);
      socket.destroy();
      return true;
    }
    return false;
  }

  /** One read at a time, and its answer for SCRAPE_REUSE_MS: however many scrape, the gateway reads once. */
  private scrape(): Promise<Scrape> {
    if (this.last && this.now() - this.last.at < SCRAPE_REUSE_MS) return Promise.resolve(this.last.scrape);
    this.inflight ??= this.read().then(
      (scrape) => {
        this.last = { at: this.now(), scrape };
        this.inflight = undefined;
        return scrape;
      },
      (err: unknown) => {
        this.inflight = undefined;
        throw err;
      },
    );
    return this.inflight;
  }

  get address(): string {
    return this.listen.host.includes(':') ? `[${this.listen.host}]:${this.listen.port}` : `${this.listen.host}:${this.listen.port}`;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listen.port, this.listen.host, () => {
        this.server.off('error', reject);
        if (!isLoopback(this.listen.host)) {
          this.onNotice(
            `metrics listen on ${this.address}, beyond loopback: whoever reaches it reads the uplinks, their targets and flows; ` +
              'allow only the Prometheus servers (a firewall rule for this port), or listen on 127.0.0.1 behind a proxy',
          );
        }
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
