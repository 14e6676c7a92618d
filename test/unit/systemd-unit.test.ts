// systemd/uplinkd.service: Type=notify with a watchdog, a reload that fails on a rejected
// file, and an exposure of at most 3.0 by `systemd-analyze security`, with `verify` clean.
// Needs systemd-analyze (the systemd package): in CI its absence is a failure.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { execa } from 'execa';

const UNIT = join(import.meta.dirname, '../../../systemd/uplinkd.service');
const text = readFileSync(UNIT, 'utf8');
const setting = (key: string): string[] => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);

async function analyze(args: string[]) {
  const r = await execa('systemd-analyze', args, { reject: false });
  if (r.failed && r.exitCode === undefined) {
    if (process.env.CI) assert.fail(`systemd-analyze is missing (apt-get install systemd): ${r.shortMessage}`);
    return undefined;
  }
  return r;
}

it('is Type=notify with a watchdog, STATUS from uplinkd only, reload through the CLI, documented', () => {
  assert.deepEqual(setting('Type'), ['notify']);
  assert.deepEqual(setting('NotifyAccess'), ['main']);
  assert.match(setting('WatchdogSec')[0] ?? '', /^\d+s$/);
  assert.deepEqual(setting('ExecReload'), ['/usr/bin/env uplinkd reload']);
  assert.equal(setting('Documentation').length, 1);
  // Overrides and keepalived's track file outlive a stop and a restart.
  assert.deepEqual(setting('RuntimeDirectoryPreserve'), ['yes']);
});

it('filters no IP address: IPAddressDeny= would stop the heartbeats too; a commented example says so', () => {
  assert.deepEqual(setting('IPAddressDeny'), []);
  assert.deepEqual(setting('IPAddressAllow'), []);
  assert.match(text, /^#IPAddressDeny=any$/m);
  assert.match(text, /^#IPAddressAllow=localhost .*198\.51\.100\.10/m);
});

it('systemd-analyze: exposure at most 3.0, verify clean', async (t) => {
  const security = await analyze(['security', '--offline=true', UNIT]);
  if (!security) return t.skip('no systemd-analyze here');
  const m = /Overall exposure level for uplinkd\.service: (\d+\.\d)/.exec(security.stdout);
  assert.ok(m, security.stdout + security.stderr);
  const exposure = Number(m[1]);
  t.diagnostic(`exposure ${exposure}`);
  assert.ok(exposure <= 3.0, `exposure ${exposure}`);
  // --man=no: whether the man pages Documentation= names are installed is the host's business.
  const verify = await analyze(['verify', '--man=no', UNIT]);
  assert.equal(verify?.exitCode, 0, verify?.stderr);
  assert.equal(verify?.stderr, '');
});
