// host/: runs the kernel tools uplinkd needs (`nft`, `conntrack`) as child processes, with
// node's own spawn: status and every steering change call them, and execa's per-call
// allocations grew the daemon's memory by 25 MB over 45 failovers before its heap settled
// (links.test.ts's delete/recreate cycles); this stays flat.
import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit code; null when a signal ended it. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `cmd args`, feeding `input` on standard input; resolves whatever the exit code, and
 * rejects only when the command cannot be started or runs past `timeoutMs` (then it is killed).
 */
export function runCommand(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no answer within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined); // a command that exits without reading its input
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString().trim() });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runCommand, but a non-zero exit is an error carrying the command's own words. */
export async function runChecked(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || `exit ${r.code}`}`);
  return r.stdout;
}
