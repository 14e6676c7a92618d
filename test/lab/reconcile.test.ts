// Lab (issue 5 e): what uplinkd owns, changed or deleted by hand, is put back (route and rule
// events from netlink), and the log says what was seen and what was restored.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab } from './running.js';
import { waitUntil } from './wait.js';

describe('reconcile', { timeout: 60_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(labConfig(), (r) => ({ lab, daemon } = r));

  const ipState = async (): Promise<string> => {
    const outs = await Promise.all([
      ...['100', '1100', '1101'].map((table) => lab.exec('gw', 'ip', ['route', 'show', 'table', table])),
      lab.exec('gw', 'ip', ['rule', 'show']),
    ]);
    return outs.map((o) => o.stdout).join('\n');
  };

  const cases: [string, string[]][] = [
    ['the managed route deleted', ['route', 'del', 'default', 'table', '100']],
    ['the managed route pointed elsewhere', ['route', 'replace', 'default', 'via', '100.64.2.1', 'dev', 'wan2', 'table', '100']],
    ['a pinned-flow rule deleted', ['rule', 'del', 'pref', '9501']],
    ['the lookup rule deleted', ['rule', 'del', 'pref', '9900']],
    ['an uplink table route deleted', ['route', 'del', 'default', 'table', '1101']],
  ];
  for (const [what, command] of cases) {
    it(`${what}: restored`, async (t) => {
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 5000, 'settled');
      const want = await ipState();
      const mark = daemon.logs.length;
      const at = Date.now();
      await lab.exec('gw', 'ip', command);
      // No check that the change is visible: the restore can beat any read of ours. The
      // reconcile line below only comes from an event the command caused.
      await waitUntil(async () => (await ipState()) === want, 5000, 'restored');
      t.diagnostic(`restored within ${Date.now() - at} ms`);
      const line = await daemon.waitFor((l) => l.event === 'reconcile', 2000, 'a reconcile log line', mark);
      // Restored by the reconcile run, or, when a run was already under way, by that one.
      assert.match(line.msg, /^changed outside uplinkd \(.+\); (restored: ip |nothing left to restore)/);
      assert.ok(
        daemon.logs.slice(mark).some((l) => l.event === 'route'),
        'the restoring command is logged',
      );
    });
  }
});
