// Lab (issue 9): reloads that used to leave things behind or start over. A new routing.table
// or destination list removes what uplinkd no longer owns, without an outage; a new
// control.socket is listened on; new probe settings keep every verdict (no uplink back to
// `init`, no false all-down).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab, type RunningLab } from './running.js';
import { waitUntil } from './wait.js';

const BASE = labConfig();

async function reload(lab: Lab, daemon: DaemonHandle, yaml: string): Promise<string[]> {
  writeFileSync(daemon.configPath, yaml);
  const mark = daemon.logs.length;
  const r = await lab.cli(['reload', '--socket', daemon.socket]);
  assert.equal(r.code, 0, `reload applied: ${r.stdout} ${r.stderr}`);
  // The log is written asynchronously: the line may come after the reply.
  const line = await daemon.waitFor((l) => l.event === 'reload' && Array.isArray(l.changes), 5000, 'the reload logged', mark);
  return line.changes as string[];
}

describe('reload', { timeout: 120_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(BASE, (r) => ({ lab, daemon } = r));

  it('a new routing.table: written at once, the old table and rule removed, no verdict lost, no outage', async (t) => {
    const mark = daemon.logs.length;
    const stream = lab.stream(1500, 2);
    await new Promise((r) => setTimeout(r, 500));
    const changes = await reload(lab, daemon, BASE.replace('table: 100', 'table: 200'));
    const result = await stream;
    t.diagnostic(`changes: ${changes.join(', ')}; LAN stream outage ${result.longestOutageMs} ms, ${result.received}/${result.sent}`);
    assert.deepEqual(await lab.defaultVia(200), ['wan1']);
    assert.deepEqual(await lab.routes(100), [], 'nothing left in the old table');
    const rules = (await lab.exec('gw', 'ip', ['rule', 'show'])).stdout;
    assert.match(rules, /^9900:\s+from all lookup 200/m);
    assert.doesNotMatch(rules, /lookup 100\b/);
    assert.deepEqual(
      daemon.stateChanges().filter((l) => daemon.logs.indexOf(l) >= mark),
      [],
      'no uplink started over',
    );
    assert.ok(result.longestOutageMs < 50, `no outage across the reload (${result.longestOutageMs} ms)`);
    await reload(lab, daemon, BASE);
    assert.deepEqual(await lab.defaultVia(100), ['wan1']);
    assert.deepEqual(await lab.routes(200), []);
  });

  it('a destination dropped from the list loses its route', async () => {
    const two = BASE.replace('destinations: [default]', 'destinations: [default, 203.0.113.0/24]');
    await reload(lab, daemon, two);
    await waitUntil(async () => (await lab.routes(100)).some((r) => r.dst === '203.0.113.0/24'), 2000, 'the second destination routed');
    await reload(lab, daemon, BASE);
    assert.deepEqual(
      (await lab.routes(100)).map((r) => r.dst),
      ['default'],
    );
  });

  it('new probe settings keep every verdict: no uplink back to init, no false all-down', async () => {
    const mark = daemon.logs.length;
    const changes = await reload(lab, daemon, BASE.replace('interval: 200ms', 'interval: 300ms'));
    assert.deepEqual(changes, ['retuned fiber', 'retuned dsl']);
    await new Promise((r) => setTimeout(r, 1000));
    const after = daemon.logs.slice(mark);
    assert.deepEqual(
      after.filter((l) => l.event === 'state'),
      [],
      'no state change',
    );
    assert.ok(!after.some((l) => l.event === 'steering'), 'steering untouched');
    const s = (await daemon.status()).json as { uplinks: { name: string; state: string }[] };
    assert.deepEqual(
      s.uplinks.map((u) => `${u.name} ${u.state}`),
      ['fiber up', 'dsl up'],
    );
  });
});

describe('reload: the config file swapped for a FIFO (issue 10, reproduction 6)', { timeout: 60_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(BASE, (r) => ({ lab, daemon } = r));

  it('five SIGHUPs and a reload are refused at once; status answers; SIGTERM exits 0 promptly', async () => {
    const { execFileSync } = await import('node:child_process');
    const { renameSync } = await import('node:fs');
    renameSync(daemon.configPath, `${daemon.configPath}.real`);
    execFileSync('mkfifo', [daemon.configPath]);
    const mark = daemon.logs.length;
    // Apart: signals sent together may arrive as one.
    for (let i = 0; i < 5; i++) {
      daemon.proc.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitUntil(async () => daemon.logs.slice(mark).filter((l) => l.event === 'reload' && l.level === 50).length >= 5, 10_000, 'five reloads refused');
    const r = await lab.cli(['reload', '--socket', daemon.socket]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a regular file \(a FIFO\)/);
    assert.equal((await lab.cli(['status', '--socket', daemon.socket])).code, 0, 'status still answers');
    assert.deepEqual(await lab.defaultVia(100), ['wan1'], 'the running config and its routes are kept');
    const started = Date.now();
    assert.equal(await daemon.stop(), 0);
    assert.ok(Date.now() - started < 5000, `SIGTERM took ${Date.now() - started} ms`);
    // The after hook's stop finds it exited (0); the lab's file goes back for its cleanup.
    renameSync(`${daemon.configPath}.real`, daemon.configPath);
  });
});

describe('reload: a new control.socket', { timeout: 60_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  let running: RunningLab;
  settledLab(BASE, (r) => ({ lab, daemon } = running = r));

  it('is listened on, and the old one is gone', async () => {
    // Restart with the socket taken from the config (no --socket to pin it).
    await daemon.stop();
    const first = join(lab.dir, 'first.sock');
    const second = join(lab.dir, 'second.sock');
    const withSocket = (p: string): string => `${BASE}control:\n  socket: ${p}\n`;
    daemon = running.daemon = lab.startDaemon(withSocket(first), {}, first);
    await daemon.waitState('fiber', 'up', 20_000);
    writeFileSync(daemon.configPath, withSocket(second));
    const r = await lab.cli(['reload', '--socket', first]);
    assert.equal(r.code, 0, r.stderr);
    await daemon.waitFor((l) => l.event === 'reload' && l.socket === second, 5000, 'socket moved');
    daemon.socket = second;
    assert.equal((await lab.cli(['status', '--socket', second])).code, 0, 'status answers on the new socket');
    await waitUntil(async () => (await lab.cli(['status', '--socket', first])).code === 3, 5000, 'the old socket is gone');
  });
});
