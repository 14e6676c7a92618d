// Lab: operator overrides at the defaults a user runs, with 200 long-lived flows on the
// primary. `uplinkd drain fiber` moves new flows off within a second while the pinned ones
// run on; `resume` brings new flows back; `drain --now` resets the pinned ones. `prefer dsl`
// holds over a reload and a SIGKILL restart, and status says who set it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import { type DaemonHandle, type HeldFlows, type Lab, SINK } from './lab.js';
import { settledLab, type RunningLab } from './running.js';
import { waitUntil } from './wait.js';

const PORT = 7100;
const FLOWS = 200;
const PROBES = 100;
const EVERY_MS = 1000;
const CONFIG = labConfig();

const broken = (r: HeldFlows) => r.flows.filter((f) => f.error || f.longestWaitMs > 3 * EVERY_MS);

describe('overrides: drain, resume, prefer', { timeout: 240_000 }, () => {
  let lab: Lab;
  let running: RunningLab;
  const daemon = (): DaemonHandle => running.daemon;
  /** The address ISP i's uplink NATs to: which uplink a new connection left by. */
  const wan = (i: 1 | 2): string => lab.isps[i - 1]!.wanAddress;
  settledLab(
    CONFIG,
    (r) => ({ lab } = running = r),
    (l) => l.echoServer(SINK, PORT),
  );
  const cli = async (...args: string[]) => {
    const r = await lab.cli([...args, '--socket', daemon().socket]);
    assert.equal(r.code, 0, `uplinkd ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const newFlowsVia = async (): Promise<Record<string, number>> => {
    const p = await lab.probeFlows(SINK, PORT, PROBES);
    assert.equal(p.errors, 0);
    return p.via;
  };
  const override = async (name: string) =>
    ((await daemon().status()).json as { uplinks: { name: string; override?: { kind: string; by: string } }[] }).uplinks.find((u) => u.name === name)!.override;

  it('drain: new flows leave within a second, the pinned ones run on; resume brings new flows back', async (t) => {
    const held = lab.holdFlows(SINK, PORT, FLOWS, 120_000, EVERY_MS);
    assert.deepEqual(new Set(await held.ready), new Set([wan(1)]));
    const mark = daemon().logs.length;
    assert.match(await cli('drain', 'fiber'), /^fiber drained; new flows: .*drained: fiber/);
    // The reply comes once the route is in: every new connection from now on takes dsl.
    assert.deepEqual(await newFlowsVia(), { [wan(2)]: PROBES });
    const set = await daemon().waitFor((l) => l.event === 'override', 5000, 'the drain logged', mark);
    const moved = await daemon().waitFor(
      (l) => l.event === 'route' && /table 100 via 100\.64\.2\.1 dev wan2/.test(String(l.command)),
      5000,
      'the route move logged',
      mark,
    );
    const ms = Date.parse(String(moved.time)) - Date.parse(String(set.time));
    t.diagnostic(`drain to route change: ${ms} ms (daemon clock)`);
    assert.ok(ms < 1000, `${ms} ms`);
    assert.equal((await override('fiber'))?.kind, 'drain');
    assert.match((await override('fiber'))!.by, /^root \(uid 0\)$/);
    assert.match((await lab.cli(['status', '--socket', daemon().socket])).stdout, /fiber: drained by root \(uid 0\) since /);
    await new Promise((r) => setTimeout(r, 4 * EVERY_MS));
    assert.deepEqual(broken(await held.snapshot()), [], 'pinned flows on the drained uplink run on');
    assert.equal(daemon().stateChanges('fiber').slice(-1)[0]?.to, 'up', 'still probed, still up');

    assert.match(await cli('resume', 'fiber'), /^fiber resumed/);
    assert.deepEqual(await newFlowsVia(), { [wan(1)]: PROBES });
    assert.equal(await override('fiber'), undefined);

    // drain --now: the connections pinned to fiber are reset.
    assert.match(await cli('drain', 'fiber', '--now'), /^fiber drained/);
    await daemon().waitFor((l) => l.event === 'drain' && /drain --now: reset/.test(String(l.msg)), 10_000, 'drain --now reset');
    await waitUntil(async () => (await held.snapshot()).flows.filter((f) => f.error).length === FLOWS, 15_000, 'every pinned flow reset');
    await cli('resume', 'fiber');
  });

  it('prefer: the backup takes new flows, and keeps them over a reload and a SIGKILL restart', async () => {
    assert.match(await cli('prefer', 'dsl'), /^dsl preferred/);
    assert.deepEqual(await newFlowsVia(), { [wan(2)]: PROBES });
    // A reload that changes something: the preference stays.
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(daemon().configPath, readFileSync(daemon().configPath, 'utf8').replace('timeout: 200ms', 'timeout: 150ms'));
    assert.match(await cli('reload'), /^reloaded: retuned fiber, retuned dsl/);
    assert.deepEqual(await newFlowsVia(), { [wan(2)]: PROBES });
    // SIGKILL and start again on the same socket: the state file beside it holds the preference.
    daemon().proc.kill('SIGKILL');
    await daemon().proc;
    running.daemon = lab.startDaemon(readFileSync(daemon().configPath, 'utf8'));
    await daemon().waitState('fiber', 'up', 20_000);
    await daemon().waitState('dsl', 'up', 20_000);
    assert.ok(daemon().logs.some((l) => l.event === 'override' && l.restored === true));
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await lab.defaultVia(100), ['wan2']);
    assert.deepEqual(await newFlowsVia(), { [wan(2)]: PROBES });
    assert.equal((await override('dsl'))?.kind, 'prefer');
    await cli('resume', 'dsl');
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 5000, 'back on wan1');
  });

  it('needs root or control.group; an unknown uplink is an error', async () => {
    const other = await lab.exec(
      'gw',
      'setpriv',
      ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, (await import('./lab.js')).CLI, 'drain', 'dsl', '--socket', daemon().socket],
      {
        reject: false,
      },
    );
    assert.equal(other.exitCode, 1);
    assert.match(other.stderr, /permission denied/);
    const unknown = await lab.cli(['drain', 'lte', '--socket', daemon().socket]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /drain lte: no uplink named "lte" \(fiber, dsl\)/);
  });
});
