// metrics/: the opt-in HTTP endpoint (metrics.listen) that Prometheus scrapes: GET /metrics in
// the text exposition format, nothing else. Each scrape reads the status afresh.
import { createServer, type Server } from 'node:http';
import type { MetricsSettings } from '../types/index.js';

type Scrape = { readonly contentType: string; readonly body: string };

/** Scrapes at once: Prometheus sends one at a time; more is somebody else. */
const MAX_CONNECTIONS = 8;
/** A scrape reads conntrack and counters: requests within this of the last share its answer. */
export const SCRAPE_REUSE_MS = 1000;
const REQUEST_TIMEOUT_MS = 10_000;

export class MetricsServer {
  private readonly server: Server;
  private inflight: Promise<Scrape> | undefined;
  private last: { readonly at: number; readonly scrape: Scrape } | undefined;

  constructor(
    readonly listen: MetricsSettings,
    private readonly read: () => Promise<Scrape>,
    onError: (message: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.server = createServer((req, res) => {
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
          onError(`metrics scrape failed: ${(err as Error).message}`);
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
        },
      );
    });
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.headersTimeout = REQUEST_TIMEOUT_MS;
    this.server.keepAliveTimeout = REQUEST_TIMEOUT_MS;
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
