// control/: the socket server as a careless or hostile operator meets it (issue 10, items 1, 7,
// 8, 9, 10): what is at the socket path is never destroyed, one daemon per path, the socket is
// 0660 whatever the umask, clients get one request each, a reply after a half-close, a cap and
// an idle timeout; reload needs root or control.group.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { ControlServer, mayChange, parseGroups } from '../../src/control/server.js';
import { request, type Request, type Response } from '../../src/control/protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'uplinkd-control-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = (): string => join(dir, `s${++n}.sock`);
const OK: Response = { ok: true, reloaded: true, changes: [] };

function server(p: string, calls: Request[] = [], extra: Partial<ConstructorParameters<typeof ControlServer>[0]> = {}): ControlServer {
  return new ControlServer({ path: p, handle: async (req) => (calls.push(req), OK), ...extra });
}

/** Sends raw bytes, optionally half-closes, and collects everything the server says. */
function raw(p: string, bytes: string, halfClose: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ path: p, allowHalfOpen: true });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('error', reject);
    s.on('end', () => {
      s.end();
      resolve(out);
    });
    s.on('connect', () => (halfClose ? s.end(bytes) : s.write(bytes)));
  });
}

describe('the control socket path', () => {
  it('a regular file there is refused and left as it was, at start and at exit', async () => {
    const p = path();
    writeFileSync(p, 'important\n');
    await assert.rejects(server(p).listen(), /exists and is a regular file: uplinkd never deletes it/);
    assert.equal(readFileSync(p, 'utf8'), 'important\n');
    // A file put in place of our socket while we ran is not ours to delete either.
    const q = path();
    const s = server(q);
    await s.listen();
    unlinkSync(q);
    writeFileSync(q, 'config\n');
    await s.close();
    assert.equal(readFileSync(q, 'utf8'), 'config\n');
  });

  it('one daemon per socket path: a second one refuses to start; a stale socket is replaced', async () => {
    const p = path();
    const first = server(p);
    await first.listen();
    await assert.rejects(server(p).listen(), /another uplinkd runs with the control socket/);
    assert.equal((await request(p, { cmd: 'status' })).ok, true, 'the first still answers');
    await first.close();
    // A socket file nobody answers on (a crashed daemon's) is replaced.
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(join(dir, 'stale.sock'), r));
    const st = join(dir, 'stale.sock');
    (stale as unknown as { _handle: { close(): void } })._handle.close(); // the file stays, nobody listens
    const next = server(st);
    await next.listen();
    assert.equal((await request(st, { cmd: 'status' })).ok, true);
    await next.close();
  });

  it('a socket some other process answers on is not taken over', async () => {
    const p = path();
    const foreign = createServer((c) => c.end());
    await new Promise<void>((r) => foreign.listen(p, r));
    await assert.rejects(server(p).listen(), /another process answers on/);
    await new Promise((r) => foreign.close(r));
  });

  it('is created 0660 whatever the umask', async () => {
    const p = path();
    const umask = process.umask(0);
    try {
      const s = server(p);
      await s.listen();
      assert.equal(statSync(p).mode & 0o777, 0o660);
      await s.close();
    } finally {
      process.umask(umask);
    }
  });

  it('is put back when someone deletes it', { timeout: 10_000 }, async () => {
    const p = path();
    const notices: string[] = [];
    const s = server(p, [], { onNotice: (m) => notices.push(m) });
    await s.listen();
    unlinkSync(p);
    const until = Date.now() + 6000;
    while (Date.now() < until && notices.length === 0) await new Promise((r) => setTimeout(r, 100));
    assert.match(notices[0] ?? '', /was deleted; listening there again/);
    assert.equal((await request(p, { cmd: 'status' })).ok, true);
    await s.close();
  });
});

describe('control connections', () => {
  it('a half-closed request gets its reply; bytes after the request line do not run it again', async () => {
    const p = path();
    const calls: Request[] = [];
    const s = server(p, calls);
    await s.listen();
    assert.deepEqual(JSON.parse(await raw(p, '{"cmd":"status"}\n', true)), OK);
    assert.deepEqual(JSON.parse(await raw(p, '{"cmd":"status"}', true)), OK, 'no newline, then FIN');
    const two = await raw(p, '{"cmd":"reload"}\n{"cmd":"reload"}\n', true);
    assert.equal(two.trim().split('\n').length, 1, 'one reply');
    assert.deepEqual(
      calls.map((c) => c.cmd),
      ['status', 'status', 'reload'],
    );
    await s.close();
  });

  it('are capped, and an idle one is closed', { timeout: 10_000 }, async () => {
    const p = path();
    const s = server(p, [], { maxConnections: 3, idleMs: 300 });
    await s.listen();
    const idle: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const c = connect(p);
      await new Promise((r) => c.once('connect', r));
      idle.push(c);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.match(await raw(p, '{"cmd":"status"}\n', false), /busy: 3 control connections are open/);
    // The idle ones are closed after 300 ms, and there is room again.
    await Promise.all(idle.map((c) => new Promise((r) => c.once('close', r))));
    assert.deepEqual(JSON.parse(await raw(p, '{"cmd":"status"}\n', false)), OK);
    await s.close();
  });
});

describe('who may change the daemon', () => {
  it("root, the daemon's own user, and members of control.group", () => {
    const groups = (pid: number): number[] => (pid === 7 ? [20, 44] : []);
    const table: [{ pid: number; uid: number; gid: number; groups?: number[] }, number | undefined, boolean][] = [
      [{ pid: 1, uid: 0, gid: 0 }, undefined, true],
      // SO_PEERGROUPS: what the socket says wins over /proc (hidden by ProtectProc=invisible).
      [{ pid: 9, uid: 1000, gid: 1000, groups: [44] }, 44, true],
      [{ pid: 7, uid: 1000, gid: 1000, groups: [] }, 44, false],
      [{ pid: 1, uid: 1000, gid: 1000 }, undefined, false],
      [{ pid: 1, uid: 1000, gid: 44 }, 44, true], // primary group
      [{ pid: 7, uid: 1000, gid: 1000 }, 44, true], // supplementary group
      [{ pid: 8, uid: 1000, gid: 1000 }, 44, false],
      [{ pid: 1, uid: 500, gid: 500 }, undefined, true], // the daemon's own user
    ];
    for (const [peer, gid, want] of table) assert.equal(mayChange(peer, 500, gid, groups), want, JSON.stringify([peer, gid]));
  });

  it('another user cannot connect, and gets "permission denied" from the CLI, not "no daemon"', {
    skip: process.getuid?.() !== 0 && process.env.CI !== 'true' && 'needs root',
  }, async () => {
    const p = path();
    const s = server(p);
    await s.listen();
    // The CLI as user nobody (65534): the socket is 0660 root:root.
    const cli = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
    chmodSync(dir, 0o755); // the directory lets anyone through: the socket's own mode decides
    const r = spawnSync(process.execPath, [cli, 'reload', '--socket', p], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.match(r.stderr, /permission denied on .* run as root or as a member of control.group/);
    assert.equal(r.status, 1);
    await s.close();
  });
});

describe('peer credentials', () => {
  it('/proc/PID/status: an empty Groups line is no group, never the pid on the next line', () => {
    assert.deepEqual(parseGroups('Gid:\t0\t0\t0\t0\nGroups:\t \nNStgid:\t44\n'), []);
    assert.deepEqual(parseGroups('Groups:\t20 44 \nNStgid:\t7\n'), [20, 44]);
  });

  it('name the peer and its supplementary groups (SO_PEERGROUPS), as the kernel has them', async () => {
    const { createServer, connect } = await import('node:net');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { peerCredentials } = await import('../../src/native/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'uplinkd-peer-'));
    const path = join(dir, 'p.sock');
    try {
      const got = new Promise<ReturnType<typeof peerCredentials>>((resolve) => {
        const server = createServer((conn) => {
          const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
          resolve(peerCredentials(fd));
          conn.destroy();
          server.close();
        }).listen(path, () => connect(path).on('error', () => undefined));
      });
      const peer = await got;
      assert.ok(!('code' in peer));
      assert.equal(peer.uid, process.getuid!());
      // The kernel's list, as /proc has it (process.getgroups() adds the effective gid).
      const { readFileSync } = await import('node:fs');
      const mine = /^Groups:[ \t]*(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!.trim().split(/\s+/).filter(Boolean).map(Number);
      assert.deepEqual([...(peer.groups ?? [])].sort(), mine.sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
