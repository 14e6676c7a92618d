// `npm test`: unit, config and fuzz tests, then the network-namespace lab tests, one file at a time.
// Lab tests never skip under CI=true: a missing capability there is a failure.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sweep } from './lab/lab.js';

const here = dirname(fileURLToPath(import.meta.url));
const CI = process.env.CI === 'true';

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...testFiles(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

/** Why the lab cannot run here, or undefined when it can. */
function labMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces, raw sockets)';
  for (const [cmd, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
    ['ping', ['-V']],
    ['conntrack', ['--version']],
    ['keepalived', ['--version']],
    ['python3', ['--version']],
  ] as const) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch {
      return `${cmd} is not installed`;
    }
  }
  // gateway: auto's real parts (test/lab/dhcp.ts); radvd has no option that exits 0.
  for (const cmd of ['dnsmasq', 'udhcpc', 'dhclient', 'radvd']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) return `${cmd} is not installed`;
  }
  const probe = `ulk-${process.pid}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset'], { stdio: 'pipe' });
  } catch (err) {
    return `cannot create a network namespace with nftables: ${String((err as Error).message).split('\n')[0]}`;
  } finally {
    spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  }
  return undefined;
}

function leftovers(): string[] {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith('ulk-'));
  const procs = spawnSync('pgrep', ['-f', 'dist/src/cli/main.js run'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  return [...ns.map((n) => `namespace ${n}`), ...procs.map((p) => `process ${p}`)];
}

const files = [...testFiles(join(here, 'unit')), ...testFiles(join(here, 'config')), ...testFiles(join(here, 'fuzz'))];
const missing = labMissing();
if (missing) {
  if (CI) {
    process.stderr.write(`lab tests cannot run: ${missing}; under CI=true that is a failure\n`);
    process.exit(1);
  }
  process.stderr.write(`SKIPPING the lab tests: ${missing}\n`);
} else {
  const removed = sweep();
  if (removed.length) process.stderr.write(`swept leftovers of dead runs: ${removed.join(', ')}\n`);
  files.push(...testFiles(join(here, 'lab')));
}

// One file at a time: lab tests measure timing, and two cores are all there is.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
let code = r.status ?? 1;
if (!missing) {
  const left = leftovers();
  if (left.length) {
    process.stderr.write(`the test run left behind: ${left.join(', ')}\n`);
    sweep();
    code = code || 1;
  }
}
process.exit(code);
