// The `hooks:` section: commands run on operator events (types/events.ts), each an argv list
// run without a shell, with a timeout (keepalived's notify scripts, dpinger's alarm command).
import { isSeq, type Node } from 'yaml';
import { OPERATOR_EVENTS, type OperatorEvent } from '../types/events.js';
import type { HookConfig } from '../types/index.js';
import { RANGE } from '../types/layout.js';
import { type Checker, entries } from './checker.js';

export const HOOK_KEYS = ['run', 'events', 'timeout'] as const;
export const DEFAULT_HOOK_TIMEOUT_MS = 10_000;
/** Enough for paging, DDNS and a modem reset; a bound on what one event may start. */
export const MAX_HOOKS = 16;
const MAX_ARGS = 64;
const MAX_ARG_BYTES = 4096;

export function parseHooks(c: Checker, node: unknown): HookConfig[] {
  if (!isSeq(node)) {
    c.report('WRONG_TYPE', 'hooks must be a list of { run: [PROGRAM, ARG...], events, timeout }', node as Node);
    return [];
  }
  if (node.items.length > MAX_HOOKS) {
    c.report('BAD_VALUE', `hooks: at most ${MAX_HOOKS}`, node);
    return [];
  }
  return node.items.flatMap((item, i) => {
    const hook = parseHook(c, item, `hooks[${i}]`);
    return hook ? [hook] : [];
  });
}

function parseHook(c: Checker, node: unknown, path: string): HookConfig | undefined {
  const map = c.map(node, path, HOOK_KEYS);
  if (!map) return undefined;
  const keys = entries(map);
  const runNode = keys.get('run')?.value;
  if (runNode === undefined) {
    c.report('MISSING_KEY', `${path} has no run: [PROGRAM, ARG...]`, map);
    return undefined;
  }
  const run = parseArgv(c, runNode, `${path}.run`);
  const events = keys.has('events') ? parseEvents(c, keys.get('events')!.value, `${path}.events`) : OPERATOR_EVENTS;
  const timeoutMs = keys.has('timeout') ? c.duration(keys.get('timeout')!.value, `${path}.timeout`, RANGE.hookTimeout) : DEFAULT_HOOK_TIMEOUT_MS;
  if (!run || !events || timeoutMs === undefined) return undefined;
  return { run, events, timeoutMs };
}

function parseArgv(c: Checker, node: unknown, path: string): string[] | undefined {
  if (!isSeq(node) || node.items.length === 0) {
    c.report('WRONG_TYPE', `${path} must be a non-empty list: the program, then its arguments (no shell)`, node as Node);
    return undefined;
  }
  if (node.items.length > MAX_ARGS) {
    c.report('BAD_VALUE', `${path}: at most ${MAX_ARGS} arguments`, node);
    return undefined;
  }
  const argv: string[] = [];
  for (const [i, item] of node.items.entries()) {
    const arg = c.string(item, `${path}[${i}]`);
    if (arg === undefined) return undefined;
    // execve(2) takes C strings: a NUL would cut the argument short.
    if (arg.includes('\0') || Buffer.byteLength(arg) > MAX_ARG_BYTES) {
      c.report('BAD_VALUE', `${path}[${i}] must be at most ${MAX_ARG_BYTES} bytes, without NUL`, item as Node);
      return undefined;
    }
    argv.push(arg);
  }
  // No PATH search: under systemd PATH is short and a hook must be the program the operator meant.
  if (!argv[0]!.startsWith('/')) {
    c.report('BAD_VALUE', `${path}[0] must be an absolute path to the program, not "${argv[0]}" (hooks run without a shell or PATH)`, node.items[0] as Node);
    return undefined;
  }
  return argv;
}

function parseEvents(c: Checker, node: unknown, path: string): OperatorEvent['event'][] | undefined {
  const known = OPERATOR_EVENTS.join(', ');
  if (!isSeq(node) || node.items.length === 0) {
    c.report('WRONG_TYPE', `${path} must be a non-empty list of events (${known})`, node as Node);
    return undefined;
  }
  const events: OperatorEvent['event'][] = [];
  for (const [i, item] of node.items.entries()) {
    const name = c.string(item, `${path}[${i}]`);
    if (name === undefined) return undefined;
    const event = OPERATOR_EVENTS.find((e) => e === name);
    if (!event) {
      c.report('BAD_VALUE', `${path}[${i}]: unknown event "${name}" (known: ${known})`, item as Node);
      return undefined;
    }
    if (!events.includes(event)) events.push(event);
  }
  return events;
}
