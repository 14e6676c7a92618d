// Config files that are not regular files of sane size are refused at once, never waited on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, it } from 'node:test';
import { execa } from 'execa';

const CLI = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'uplinkd-unreadable-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function validate(file: string) {
  const r = await execa(process.execPath, [CLI, 'validate', file], { reject: false, timeout: 10_000 });
  return { code: r.exitCode, timedOut: r.timedOut, stderr: r.stderr };
}

it('a FIFO is refused at once (validate and run), not waited on', async () => {
  const fifo = join(dir, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);
  const v = await validate(fifo);
  assert.equal(v.timedOut, false);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /fifo\.yaml:1:1: BAD_VALUE: cannot read the file: not a regular file \(a FIFO\)/);
  const r = await execa(process.execPath, [CLI, 'run', '--config', fifo, '--socket', join(dir, 'x.sock')], { reject: false, timeout: 10_000 });
  assert.equal(r.timedOut, false);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /not a regular file \(a FIFO\)/);
});

it('a directory, a device and a file over a megabyte are refused', async () => {
  assert.match((await validate(dir)).stderr, /not a regular file \(a directory\)/);
  assert.match((await validate('/dev/zero')).stderr, /not a regular file \(a device or socket\)/);
  const big = join(dir, 'big.yaml');
  writeFileSync(big, `# ${'x'.repeat(1 << 20)}\n`);
  const v = await validate(big);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /bytes; a config has at most 1048576/);
});
