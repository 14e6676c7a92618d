// cli/: --version, help per subcommand from the one table, usage errors (exit 2), status
// --watch redrawing until interrupted, and `check`'s verdict as a table.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { VERSION } from '../../src/cli/version.js';

const CLI = join(import.meta.dirname, '../../src/cli/main.js');
const cli = (args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false });

describe('cli: version and help', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version);
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      assert.deepEqual([r.exitCode, r.stdout], [0, `uplinkd ${pkg.version}`]);
    }
  });

  it('help lists every command; each has its own --help with its options', async () => {
    const all = await cli(['--help']);
    assert.equal(all.exitCode, 0);
    for (const cmd of ['run', 'validate', 'status', 'reload', 'check']) {
      assert.match(all.stdout, new RegExp(`^  uplinkd ${cmd}\\b`, 'm'), cmd);
      const r = await cli([cmd, '--help']);
      assert.equal(r.exitCode, 0, cmd);
      assert.match(r.stdout, new RegExp(`^usage: uplinkd ${cmd}\\b`), cmd);
      assert.match(r.stdout, /^ {2}-h, --help +this help$/m, cmd);
    }
    const status = await cli(['status', '-h']);
    assert.match(status.stdout, /^ {2}-w, --watch +redraw every second until interrupted$/m);
    assert.match(status.stdout, /^ {2}--json +the status as JSON, for scripts$/m);
    assert.equal((await cli(['help', 'check'])).stdout, (await cli(['check', '--help'])).stdout);
  });

  const usage: [string, string[], RegExp][] = [
    ['no command', [], /no command given/],
    ['an unknown command', ['restart'], /unknown command "restart"/],
    ["an option the command does not take (status's --json on reload)", ['reload', '--json'], /Unknown option '--json'[\s\S]*usage: uplinkd reload/],
    ['run without --config', ['run'], /run needs --config FILE/],
    ['run with a bad log level', ['run', '--config', '/x', '--log-level', 'loud'], /--log-level must be one of debug, info, warn, error/],
    ['validate without a file', ['validate'], /validate needs a FILE/],
    ['help about a command there is not', ['help', 'restart'], /no command "restart"/],
    ['drain without an uplink', ['drain'], /drain needs an UPLINK/],
  ];
  for (const [what, args, message] of usage) {
    it(`usage error, exit 2: ${what}`, async () => {
      const r = await cli(args);
      assert.equal(r.exitCode, 2);
      assert.match(r.stderr, message);
    });
  }
});

describe('cli: status --watch', () => {
  it('redraws every second until interrupted, then exits 0; a missing daemon is said on screen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uplinkd-watch-'));
    try {
      const child = execa(process.execPath, [CLI, 'status', '--watch', '--socket', join(dir, 'none.sock')], { reject: false });
      await new Promise((r) => setTimeout(r, 2500));
      child.kill('SIGINT');
      const r = await child;
      assert.equal(r.exitCode, 0);
      const frames = r.stdout.match(/no uplinkd answers on/g)?.length ?? 0;
      assert.ok(frames >= 2 && frames <= 4, `${frames} frames in 2.5 s:\n${r.stdout}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cli: check (keepalived track_script)', () => {
  it('exits 3, quietly, when no daemon answers', async () => {
    const r = await cli(['check', '--socket', '/nonexistent/uplinkd.sock']);
    assert.deepEqual([r.exitCode, r.stdout, r.stderr], [3, '', '']);
  });
});
