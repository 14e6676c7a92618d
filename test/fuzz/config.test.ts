// Fuzz (issue 10): random mutations of valid configs through the parser `validate` and `run`
// use. Every one must end as "valid" or as problems with a position and an operator's message:
// never an exception, a stack trace or a hang. A sample also goes through `uplinkd validate`
// (exit 0 or 1, nothing on stderr but FILE:LINE:COL lines).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { parseConfig, type ProblemCode } from '../../src/config/index.js';
import { CLI, ROOT } from '../lab/lab.js';
import { Dice, fuzzSeed, INTERNALS, seeded } from './random.js';

const COUNT = Number(process.env.FUZZ_CONFIG_COUNT ?? 10_000);
const CLI_SAMPLE = 40;

const CODES: readonly ProblemCode[] = [
  'YAML_SYNTAX',
  'UNKNOWN_KEY',
  'MISSING_KEY',
  'WRONG_TYPE',
  'BAD_VALUE',
  'BAD_DURATION',
  'BAD_ADDRESS',
  'WRONG_FAMILY',
  'BAD_PREFIX',
  'BAD_NAME',
  'BAD_INTERFACE',
  'DUPLICATE_NAME',
  'DUPLICATE_INTERFACE',
  'MISSING_TARGETS',
  'RELIABILITY_TOO_HIGH',
  'BAD_FAILBACK_STEPS',
  'RESERVED_TABLE',
  'UNKNOWN_TABLE',
  'REMOVED_KEY',
];

const FLOW = `uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, priority: 1, targets: [icmp: 198.51.100.10, tcp: "198.51.100.11:443"] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, weight: 3, targets: [icmp: 198.51.100.10] }
probe: { interval: 200ms, timeout: 200ms, down: 3, up: 3, max_rtt: 100ms, recover_rtt: 50ms }
routing: { table: 100, failback: { hold: 1s, steps: [50, 100], step_interval: 1s } }
`;
const ALIASES = `x-probe: &fast { interval: 250ms, timeout: 200ms }
x-targets: &targets
  - icmp: 198.51.100.10
  - icmp: 2001:db8::10
uplinks:
  - name: lte
    interface: wwan0
    targets: *targets
    probe: { <<: *fast, down: 2 }
  - name: vps
    interface: tun0
    gateway6: fe80::1
    targets: *targets
    probe: *fast
routing: { table: main, destinations: [203.0.113.0/24] }
control: { socket: /run/uplinkd/x.sock, group: 0 }
`;
const SEEDS = [readFileSync(join(ROOT, 'systemd/uplinkd.example.yaml'), 'utf8'), FLOW, ALIASES];

/** Tokens that stress each kind of value: types, ranges, YAML features, odd bytes. */
const TOKENS = [
  '',
  '~',
  'null',
  'true',
  'no',
  '0',
  '-1',
  '1e309',
  '.nan',
  '.inf',
  '0x',
  '0xffffffffff',
  '99999999999999999999',
  '1.5',
  '[',
  ']',
  '{',
  '}',
  '[]',
  '{}',
  '"',
  "'",
  ':',
  '- ',
  '? ',
  '&a',
  '*a',
  '*nope',
  '<<: *a',
  '!!binary',
  '!!js/function "x"',
  '!tag',
  '%YAML 1.1',
  '---',
  '...',
  '#',
  '|',
  '>',
  '\t',
  '\u0000',
  '\u00e9'.repeat(20),
  '\ud83d\ude00',
  'é',
  '0ms',
  '1ms',
  '600h',
  '2562048h',
  '1h',
  '10ms',
  '-5s',
  '1e3s',
  '250',
  'ms',
  '0.0.0.0',
  'fe80::1%-1',
  'fe80::1%eth0',
  '255.255.255.255',
  '224.0.0.1',
  '::',
  'ff02::1',
  '127.0.0.1',
  '1.2.3.4:0',
  '1.2.3.4:65536',
  '[::1]:80',
  '300.1.1.1',
  'default',
  '0.0.0.0/0',
  '::/0',
  '203.0.113.1/24',
  '100.64.1.0/24',
  'main',
  'local',
  '253',
  '255',
  '4294967295',
  '..',
  '.',
  'a/b',
  'eth 0',
  'x'.repeat(16),
  'wan1',
  'fiber',
  '/etc/passwd',
  'relative.sock',
  '/'.repeat(200),
];

function mutate(text: string, d: Dice): string {
  const lines = text.split('\n');
  const at = d.int(lines.length);
  switch (d.int(11)) {
    case 0: // delete a range of characters
      return ((s, i) => s.slice(0, i) + s.slice(i + 1 + d.int(20)))(text, d.int(text.length));
    case 1: // insert a token
      return ((s, i) => s.slice(0, i) + d.pick(TOKENS) + s.slice(i))(text, d.int(text.length + 1));
    case 2: // replace a line's value with a token
      lines[at] = lines[at]!.replace(/:\s.*$/, `: ${d.pick(TOKENS)}`);
      return lines.join('\n');
    case 3: // duplicate a line
      lines.splice(at, 0, lines[at]!);
      return lines.join('\n');
    case 4: // swap two lines
      [lines[at], lines[d.int(lines.length)]] = [lines[d.int(lines.length)]!, lines[at]!];
      return lines.join('\n');
    case 5: // indent or dedent a line
      lines[at] = d.chance(0.5) ? `${' '.repeat(1 + d.int(4))}${lines[at]}` : lines[at]!.replace(/^ {1,4}/, '');
      return lines.join('\n');
    case 6: // random bytes somewhere
      return ((s, i) => s.slice(0, i) + d.bytes(1 + d.int(8)).toString('latin1') + s.slice(i))(text, d.int(text.length + 1));
    case 7: // drop a line
      lines.splice(at, 1);
      return lines.join('\n');
    case 8: // a word replaced by a token
      return text.replace(/[A-Za-z0-9_.:/]+/g, (w) => (d.chance(0.03) ? d.pick(TOKENS) : w));
    case 9: // a word replaced by a token, once
      return text.replace(new RegExp(`(?:[^\\w]*\\w+){${d.int(60)}}`), (w) => w.replace(/\w+$/, d.pick(TOKENS)));
    default: // deep or wide structure (rarer: each costs a few ms)
      if (d.chance(0.8)) return mutate(text, d);
      return d.chance(0.5) ? `${text}\nx-deep: ${'['.repeat(d.int(2000))}` : `${text}\nx-wide: [${'1,'.repeat(d.int(5000))}1]`;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'uplinkd-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('config fuzz', { timeout: 600_000 }, () => {
  const seed = fuzzSeed();
  const d = new Dice(seeded(seed));
  const samples: string[] = [];

  it(`${COUNT} mutations of valid configs: valid, or positioned problems in an operator's words (seed ${seed})`, (t) => {
    for (const s of SEEDS) assert.ok(parseConfig(s).ok, 'every seed is valid');
    let valid = 0;
    let slowest = 0;
    const codes = new Map<string, number>();
    for (let i = 0; i < COUNT; i++) {
      let text = d.pick(SEEDS);
      for (let m = 1 + d.int(3); m > 0; m--) text = mutate(text, d);
      const started = performance.now();
      let result: ReturnType<typeof parseConfig>;
      try {
        result = parseConfig(text);
      } catch (err) {
        assert.fail(`mutation ${i} (seed ${seed}) threw ${String((err as Error)?.stack ?? err)}\n--- config ---\n${text.slice(0, 2000)}`);
      }
      slowest = Math.max(slowest, performance.now() - started);
      if (result.ok) {
        valid++;
        // What `run` would get is a whole config: every uplink with targets and a timeout within its interval.
        for (const u of result.config.uplinks) {
          assert.ok(
            u.targets.length > 0 && (u.probe.timeoutMs === 'auto' || u.probe.timeoutMs <= u.probe.intervalMs),
            `mutation ${i}: inconsistent config accepted`,
          );
        }
      } else {
        assert.ok(result.problems.length > 0);
        for (const p of result.problems) {
          codes.set(p.code, (codes.get(p.code) ?? 0) + 1);
          assert.ok(CODES.includes(p.code), `unknown code ${p.code}`);
          assert.ok(p.line >= 1 && p.col >= 1, `mutation ${i}: position ${p.line}:${p.col}`);
          assert.ok(p.message.length > 0 && !INTERNALS.test(p.message), `mutation ${i} (seed ${seed}): message "${p.message}"`);
        }
      }
      if (samples.length < CLI_SAMPLE && d.chance(CLI_SAMPLE / COUNT)) samples.push(text);
    }
    t.diagnostic(`${COUNT} mutations: ${valid} valid, ${COUNT - valid} refused; slowest parse ${slowest.toFixed(1)} ms`);
    t.diagnostic(
      `codes: ${[...codes]
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c} ${n}`)
        .join(', ')}`,
    );
    // A hang shows as a parse that never returns (the test's timeout); this bound only catches
    // work that grows with the input's nesting or aliases instead of its size.
    assert.ok(slowest < 5000, `slowest parse ${slowest.toFixed(0)} ms`);
  });

  it('a sample through `uplinkd validate`: exit 0 or 1, problems as FILE:LINE:COL lines only', async () => {
    for (const [i, text] of samples.entries()) {
      const file = join(dir, `m${i}.yaml`);
      writeFileSync(file, text);
      const r = await execa(process.execPath, [CLI, 'validate', file], { reject: false, timeout: 20_000 });
      assert.ok(r.exitCode === 0 || r.exitCode === 1, `exit ${r.exitCode}: ${r.stderr}`);
      for (const line of r.stderr.split('\n').filter(Boolean)) {
        assert.ok(line.startsWith(`${file}:`) && !INTERNALS.test(line), `stderr: ${line}`);
      }
    }
  });
});
