// Runs `uplinkd validate` on a config text, as an operator would, and returns what it printed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

const CLI = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../src/cli/main.js');

export interface ValidateResult {
  readonly code: number;
  readonly lines: string[];
  readonly stdout: string;
  readonly file: string;
}

export async function validate(text: string): Promise<ValidateResult> {
  const dir = mkdtempSync(join(tmpdir(), 'uplinkd-validate-'));
  const file = join(dir, 'uplinkd.yaml');
  writeFileSync(file, text);
  try {
    const r = await execa(process.execPath, [CLI, 'validate', file], { reject: false });
    return { code: r.exitCode ?? -1, lines: r.stderr.split('\n').filter(Boolean), stdout: r.stdout, file };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asserts exit 1 and a `FILE:LINE:COL: CODE: message` line with that position and code. */
export async function expectProblem(text: string, line: number, col: number, code: string, message?: RegExp): Promise<void> {
  const r = await validate(text);
  assert.equal(r.code, 1, `exit code; stderr: ${r.lines.join('\n')}`);
  const want = `${r.file}:${line}:${col}: ${code}: `;
  const hit = r.lines.find((l) => l.startsWith(want));
  assert.ok(hit, `expected a line starting "${want}" in:\n${r.lines.join('\n')}`);
  if (message) assert.match(hit.slice(want.length), message);
}

/** A valid uplink block (lines 2-6 after `uplinks:`); what a test appends starts on line 7. */
export const GOOD_UPLINK = `  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    targets:
      - icmp: 198.51.100.10
`;
