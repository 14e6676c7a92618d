// control/: the Unix-socket server the daemon answers `uplinkd status` and `reload` on.
// The socket path is never trusted: uplinkd takes a lock beside it (one daemon per socket),
// deletes only a socket nobody answers on, and creates its own 0660 whatever the umask.
// Clients get one request per connection, a reply even after a half-close, and no more than
// their share of the daemon: connections are capped and time out when idle.
import { chmodSync, chownSync, closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, type Stats } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { flock, peerCredentials, type PeerCredentials } from '../native/index.js';
import { MUTATING_COMMANDS, parseRequest, type Request, type Response } from './protocol.js';

const MAX_REQUEST = 4096;
export const MAX_CONNECTIONS = 32;
export const IDLE_MS = 10_000;
/** How often the socket file is looked at, to put it back when someone deleted it. */
const CHECK_MS = 2000;
/** How long a closing server waits for the requests it is answering. */
const CLOSE_GRACE_MS = 2000;

export interface ControlServerOptions {
  readonly path: string;
  /** Besides root and the daemon's user, this group may use the socket and change things. */
  readonly gid?: number;
  /** `by`: who asked, for a command that changes the daemon (`root (uid 0)`). */
  readonly handle: (req: Request, by?: string) => Promise<Response>;
  /** Said when the server had to act on its own (the socket file put back). */
  readonly onNotice?: (message: string) => void;
  readonly maxConnections?: number;
  readonly idleMs?: number;
}

/** A control socket that cannot be taken, with the reason in words. */
export class ControlSocketError extends Error {}

function kind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  return 'not a socket';
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Does anything accept connections on this socket? A refused or missing one does not. */
function answers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (live: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

/** A group name from /etc/group, or an id as it is. */
export function groupId(group: string | number, etcGroup = '/etc/group'): number {
  if (typeof group === 'number') return group;
  for (const line of readFileSync(etcGroup, 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ControlSocketError(`control.group "${group}": no such group in ${etcGroup}`);
}

/**
 * The `Groups:` line of /proc/PID/status. Its value may be empty: the match stays on its line
 * (`\s*` would run on into `NStgid:`, the pid, and take it for a group).
 */
export function parseGroups(status: string): number[] {
  const value = /^Groups:[ \t]*(.*)$/m.exec(status)?.[1]?.trim();
  return value ? value.split(/\s+/).map(Number) : [];
}

/** The supplementary groups of a process (/proc/PID/status), empty when it is gone. */
function groupsOf(pid: number): number[] {
  try {
    return parseGroups(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return [];
  }
}

/** `root (uid 0)`: the user's name from /etc/passwd when it has one there. */
export function describePeer(peer: PeerCredentials, passwd = readPasswd): string {
  const name = passwd()
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f.length > 2 && Number(f[2]) === peer.uid)?.[0];
  return name ? `${name} (uid ${peer.uid})` : `uid ${peer.uid}`;
}

function readPasswd(): string {
  try {
    return readFileSync('/etc/passwd', 'utf8');
  } catch {
    return '';
  }
}

/**
 * May this client change the daemon? Root, the daemon's own user, or a member of the group:
 * by its primary group, or a supplementary one (SO_PEERGROUPS, else /proc/PID/status).
 */
export function mayChange(peer: PeerCredentials, ownUid: number, gid: number | undefined, groups: (pid: number) => number[] = groupsOf): boolean {
  if (peer.uid === 0 || peer.uid === ownUid) return true;
  if (gid === undefined) return false;
  return peer.gid === gid || (peer.groups ?? groups(peer.pid)).includes(gid);
}

export class ControlServer {
  private server: Server | undefined;
  private lockFd: number | undefined;
  private ino: number | undefined;
  private check: NodeJS.Timeout | undefined;
  private readonly conns = new Set<Socket>();
  private rebinding = false;
  readonly path: string;

  constructor(private readonly opts: ControlServerOptions) {
    this.path = opts.path;
  }

  async listen(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o755 });
    this.lock();
    try {
      await this.bind();
    } catch (err) {
      this.unlock();
      throw err;
    }
    this.check = setInterval(() => void this.putBack(), CHECK_MS);
    this.check.unref();
  }

  /** One daemon per socket path: a lock file beside it, dropped by the kernel when we die. */
  private lock(): void {
    const lockPath = `${this.path}.lock`;
    let fd: number;
    try {
      fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      throw new ControlSocketError(`cannot open the lock ${lockPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const st = fstatSync(fd);
    const held = st.isFile() ? flock(fd) : undefined;
    if (!st.isFile() || held) {
      closeSync(fd);
      if (!st.isFile()) throw new ControlSocketError(`${lockPath} is ${kind(st)}, not a lock file: not using it`);
      if (held!.code === 'EWOULDBLOCK' || held!.code === 'EAGAIN') {
        throw new ControlSocketError(`another uplinkd runs with the control socket ${this.path} (it holds ${lockPath}); not starting a second one`);
      }
      throw new ControlSocketError(`cannot lock ${lockPath}: ${held!.message}`);
    }
    this.lockFd = fd;
  }

  private unlock(): void {
    if (this.lockFd !== undefined) closeSync(this.lockFd);
    this.lockFd = undefined;
  }

  /**
   * Listens on the path, after making sure what is there may go. The socket is bound under a
   * name of this process's and renamed into place: libuv unlinks the name it bound when the
   * server closes, and that must never be the path, where someone else's file may be by then.
   */
  private async bind(): Promise<void> {
    const st = lstatOrUndefined(this.path);
    if (st && !st.isSocket()) {
      throw new ControlSocketError(`${this.path} exists and is ${kind(st)}: uplinkd never deletes it; choose another control.socket`);
    }
    // We hold the lock, so no uplinkd of ours is behind a socket there; something else may be.
    if (st && (await answers(this.path))) throw new ControlSocketError(`another process answers on ${this.path}: not taking it over`);
    const bound = `${this.path}.${process.pid}.new`;
    const old = lstatOrUndefined(bound);
    if (old && !old.isSocket()) throw new ControlSocketError(`${bound} exists and is ${kind(old)}: not touching it`);
    if (old) unlinkSync(bound);
    const server = createServer({ allowHalfOpen: true }, (conn) => this.serve(conn));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // bind(2) happens inside listen(): the socket is born 0660, whatever the umask was.
      const umask = process.umask(0o117);
      try {
        server.listen(bound, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    try {
      chmodSync(bound, 0o660);
      if (this.opts.gid !== undefined) chownSync(bound, -1, this.opts.gid);
      // Atomic: a stale socket is replaced, no moment without one.
      renameSync(bound, this.path);
    } catch (err) {
      server.close();
      throw err;
    }
    this.ino = lstatSync(this.path).ino;
    this.server = server;
  }

  /** The socket file deleted (or replaced) under us: listen again, so clients still reach us. */
  private async putBack(): Promise<void> {
    const old = this.server;
    if (!old || this.rebinding) return;
    const st = lstatOrUndefined(this.path);
    if (st && st.ino === this.ino) return;
    const what = st ? `replaced by ${st.isSocket() ? 'another socket' : kind(st)}` : 'deleted';
    this.rebinding = true;
    try {
      await this.bind();
      old.close();
      this.opts.onNotice?.(`the control socket ${this.path} was ${what}; listening there again`);
    } catch (err) {
      // Said once per change; looked at again at the next check.
      if (this.ino !== undefined) this.opts.onNotice?.(`the control socket ${this.path} was ${what} and cannot be put back: ${(err as Error).message}`);
      this.ino = undefined;
    } finally {
      this.rebinding = false;
    }
  }

  private serve(conn: Socket): void {
    const max = this.opts.maxConnections ?? MAX_CONNECTIONS;
    const reply = (res: Response): void => {
      if (!conn.destroyed) conn.end(JSON.stringify(res) + '\n');
    };
    conn.on('error', () => conn.destroy());
    if (this.conns.size >= max) return reply({ ok: false, error: `busy: ${max} control connections are open` });
    this.conns.add(conn);
    conn.once('close', () => this.conns.delete(conn));
    conn.setTimeout(this.opts.idleMs ?? IDLE_MS, () => conn.destroy());
    conn.setEncoding('utf8');
    let buf = '';
    let taken = false;
    // One request per connection: the first line; whatever follows it is not read.
    const take = (line: string): void => {
      taken = true;
      conn.off('data', onData);
      conn.pause();
      const req = parseRequest(line);
      if ('problem' in req) return reply({ ok: false, error: req.problem });
      let by: string | undefined;
      if (MUTATING_COMMANDS.includes(req.cmd)) {
        const peer = this.allowed(conn);
        if (!peer) {
          return reply({
            ok: false,
            error: `permission denied: ${String(req.cmd)} needs root${this.opts.gid !== undefined ? ` or group ${this.opts.gid}` : ''}`,
          });
        }
        by = describePeer(peer);
      }
      this.opts.handle(req, by).then(reply, (err: unknown) => reply({ ok: false, error: String((err as Error)?.message ?? err) }));
    };
    const onData = (chunk: string): void => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) return take(buf.slice(0, nl));
      if (buf.length > MAX_REQUEST) {
        taken = true;
        conn.off('data', onData);
        reply({ ok: false, error: 'request too long' });
      }
    };
    conn.on('data', onData);
    // A client that half-closes after its request (nc -N, socat) still gets its reply.
    conn.on('end', () => {
      if (taken) return;
      if (buf.trim()) take(buf);
      else conn.end();
    });
  }

  /** The peer, when it may change the daemon. */
  private allowed(conn: Socket): PeerCredentials | undefined {
    const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0) return undefined;
    const peer = peerCredentials(fd);
    if ('code' in peer) return undefined;
    return mayChange(peer, process.getuid?.() ?? 0, this.opts.gid) ? peer : undefined;
  }

  async close(): Promise<void> {
    clearInterval(this.check);
    const server = this.server;
    this.server = undefined;
    if (server) {
      // Requests being answered get a moment to finish; idle clients do not hold the exit.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
      clearTimeout(timer);
      for (const c of this.conns) c.destroy();
    }
    // Only our own socket: a file someone put there since is not ours to delete.
    const st = lstatOrUndefined(this.path);
    if (st?.isSocket() && st.ino === this.ino) unlinkSync(this.path);
    this.unlock();
  }
}
