// Checker: reads typed values out of YAML nodes, collecting every problem with its position.
import { isMap, isScalar, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import { formatDuration, parseDuration } from './duration.js';
import type { ConfigProblem, ProblemCode } from './problems.js';

export class Checker {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly lines: LineCounter) {}

  report(code: ProblemCode, message: string, at: Node | Pair | null | undefined | number): void {
    let offset = 0;
    if (typeof at === 'number') offset = at;
    else if (at && 'range' in at && at.range) offset = at.range[0];
    else if (at && 'key' in at) offset = (at.key as Node | null)?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    this.problems.push({ code, message, line, col });
  }

  sorted(): ConfigProblem[] {
    return [...this.problems].sort((a, b) => a.line - b.line || a.col - b.col);
  }

  /** The map at `node`, after reporting keys it does not know. */
  /** `extensions`: keys starting `x-` are left alone (a place for YAML anchors, as in Compose files). */
  map(node: unknown, path: string, known: readonly string[], extensions = false): YAMLMap | undefined {
    if (!isMap(node)) {
      this.report('WRONG_TYPE', `${path} must be a mapping`, node as Node);
      return undefined;
    }
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (extensions && key?.startsWith('x-')) continue;
      if (key === undefined || !known.includes(key)) {
        this.report('UNKNOWN_KEY', `unknown key "${key ?? '?'}" in ${path} (known: ${known.join(', ')})`, pair.key as Node);
      }
    }
    return node;
  }

  string(node: unknown, path: string): string | undefined {
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    this.report('WRONG_TYPE', `${path} must be a string`, node as Node);
    return undefined;
  }

  integer(node: unknown, path: string, min: number, max: number): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
      this.report('WRONG_TYPE', `${path} must be a whole number`, node as Node);
      return undefined;
    }
    if (node.value < min || node.value > max) {
      this.report('BAD_VALUE', `${path} must be between ${min} and ${max}, not ${node.value}`, node);
      return undefined;
    }
    return node.value;
  }

  number(node: unknown, path: string, min: number, max: number): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value)) {
      this.report('WRONG_TYPE', `${path} must be a number`, node as Node);
      return undefined;
    }
    if (node.value < min || node.value > max) {
      this.report('BAD_VALUE', `${path} must be between ${min} and ${max}, not ${node.value}`, node);
      return undefined;
    }
    return node.value;
  }

  boolean(node: unknown, path: string): boolean | undefined {
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    this.report('WRONG_TYPE', `${path} must be true or false`, node as Node);
    return undefined;
  }

  duration(node: unknown, path: string, [min, max]: readonly [number, number]): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'string') {
      this.report('BAD_DURATION', `${path} must be a duration like 250ms, 1s or 2m`, node as Node);
      return undefined;
    }
    const ms = parseDuration(node.value);
    if (ms === undefined) {
      this.report('BAD_DURATION', `${path}: "${node.value}" is not a duration (like 250ms, 1s or 2m)`, node);
      return undefined;
    }
    if (ms <= 0) {
      this.report('BAD_DURATION', `${path} must be longer than 0`, node);
      return undefined;
    }
    // Every duration has a range: beyond Node's timer limit (2^31-1 ms) a timer fires at once.
    if (ms < min || ms > max) {
      this.report('BAD_DURATION', `${path} must be between ${formatDuration(min)} and ${formatDuration(max)}, not ${node.value}`, node);
      return undefined;
    }
    return ms;
  }
}

export function entries(map: YAMLMap | undefined): Map<string, { pair: Pair; value: unknown }> {
  const out = new Map<string, { pair: Pair; value: unknown }>();
  for (const pair of map?.items ?? []) {
    if (isScalar(pair.key)) out.set(String(pair.key.value), { pair, value: pair.value });
  }
  return out;
}
