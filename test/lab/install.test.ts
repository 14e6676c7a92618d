// Lab: the package as an operator installs it. `npm pack` (dist/ already built by `npm test`),
// `npm install -g` into a temporary prefix, which builds the native addon at install; then the
// installed `uplinkd` runs in the lab: heartbeats (the addon's raw ICMP socket and TCP
// connect), routes, status and check.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { VERSION } from '../../src/cli/version.js';
import { labConfig } from './config.js';
import { type DaemonHandle, Lab, ROOT, TARGETS } from './lab.js';
import { waitUntil } from './wait.js';

describe('install: npm pack, npm install -g, run the installed uplinkd', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'uplinkd-install-'));
  const prefix = join(dir, 'prefix');
  const installed = join(prefix, 'lib/node_modules/uplinkd/dist/src/cli/main.js');
  let tarball = '';
  let lab: Lab | undefined;
  let daemon: DaemonHandle | undefined;

  before(async () => {
    // --ignore-scripts: prepack would build again, under the feet of this test run.
    const pack = await execa('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT });
    tarball = join(dir, pack.stdout.trim().split('\n').at(-1)!);
  });
  after(async () => {
    await daemon?.stop();
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the tarball holds the build, the addon source and the unit, and no tests', async () => {
    const files = (await execa('tar', ['tzf', tarball])).stdout.split('\n');
    for (const f of ['dist/src/cli/main.js', 'native/uplinkd.cc', 'native/binding.gyp', 'systemd/uplinkd.service', 'package.json', 'README.md']) {
      assert.ok(files.includes(`package/${f}`), `${f} missing`);
    }
    assert.deepEqual(
      files.filter((f) => /\/test\/|\.ts$|native\/build\//.test(f)),
      [],
    );
  });

  it('installs globally, building the native addon', async () => {
    const r = await execa('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    const v = await execa(join(prefix, 'bin/uplinkd'), ['--version']);
    assert.equal(v.stdout, `uplinkd ${VERSION}`);
  });

  it('the installed uplinkd runs: heartbeats answer, the route goes in, status and check answer', async () => {
    lab = await Lab.create();
    await lab.echoServer(TARGETS[2]!, 443);
    const config = labConfig().replace(/ {4}targets:\n/g, `    targets:\n      - tcp: ${TARGETS[2]}:443\n`);
    assert.equal(config.match(/- tcp: /g)?.length, 2);
    daemon = lab.startDaemon(config, {}, undefined, installed);
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    await waitUntil(async () => (await lab!.defaultVia(100)).join() === 'wan1', 5000, 'route via wan1');
    const st = await daemon.status();
    const fiber = (st.json as { uplinks: { name: string; targets: { target: string; ok: boolean }[] }[] }).uplinks.find((u) => u.name === 'fiber')!;
    assert.deepEqual(
      fiber.targets.map((t) => `${t.target} ${t.ok}`),
      [`tcp ${TARGETS[2]}:443 true`, `icmp ${TARGETS[0]} true`, `icmp ${TARGETS[1]} true`],
    );
    const check = await lab.cli(['check', '--socket', daemon.socket], installed);
    assert.deepEqual([check.code, check.stdout, check.stderr], [0, '', '']);
    const start = daemon.logs.find((l) => l.event === 'start');
    assert.equal(start?.version, VERSION);
  });
});
