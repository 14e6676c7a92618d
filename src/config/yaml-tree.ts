// config/: the parsed YAML tree made plain before it is checked. Aliases (`*name`) become the
// node they name and merge keys (`<<: *defaults`, YAML 1.1) become the pairs they bring, so the
// checker sees ordinary maps, with positions that point where each value was written. Bounded:
// a file of aliases of aliases (a "billion laughs") or nesting deep enough to exhaust the stack
// is refused with a message, never expanded.
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';

/** Deeper than this is no config of ours. */
export const MAX_DEPTH = 64;
/** Aliases resolved and pairs merged, in all. */
export const MAX_ALIAS_WORK = 10_000;

export interface TreeProblem {
  readonly message: string;
  readonly offset: number;
}

function isMergeKey(pair: Pair): boolean {
  // The yaml package reads `<<` as a Symbol key when `merge` is on.
  return isScalar(pair.key) && (typeof pair.key.value === 'symbol' || pair.key.value === '<<');
}

function keyOf(pair: Pair): unknown {
  return isScalar(pair.key) ? pair.key.value : pair.key;
}

/**
 * Replaces aliases and merge keys in place, walking in document order: an anchor comes before
 * its aliases, so the node an alias names is already plain when the alias is met, and the
 * walk never goes into it twice (work stays linear in the file).
 */
export function flattenAliases(doc: Document): TreeProblem | undefined {
  let work = 0;
  /** Anchors met so far; a later one of the same name wins from there on (YAML 1.2 §3.2.2.2). */
  const anchors = new Map<string, unknown>();
  let problem: TreeProblem | undefined;
  const fail = (message: string, node: unknown): undefined => {
    problem ??= { message, offset: (node as Node | undefined)?.range?.[0] ?? 0 };
    return undefined;
  };
  const resolve = (node: unknown): unknown => {
    if (!isAlias(node)) return node;
    if (!charge(node)) return undefined;
    // Not Alias.resolve(): it searches the whole document, which the shared nodes made a DAG.
    const target = anchors.get(node.source);
    if (target === undefined) return fail(`alias *${node.source} names no anchor before it`, node);
    return target;
  };
  const seen = new Set<unknown>();
  const charge = (node: unknown): boolean => {
    if (++work <= MAX_ALIAS_WORK) return true;
    fail(`more than ${MAX_ALIAS_WORK} aliases and merged keys: not a config file`, node);
    return false;
  };
  const walk = (node: unknown, depth: number): void => {
    if (problem || node === null || typeof node !== 'object' || seen.has(node)) return;
    if (depth > MAX_DEPTH) {
      fail(`nested deeper than ${MAX_DEPTH} levels: not a config file`, node);
      return;
    }
    seen.add(node);
    walkInside(node, depth);
    // After its contents: a node cannot contain an alias of itself.
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) anchors.set(anchor, node);
  };
  // Each item resolved and walked in turn, in document order: an anchor inside an earlier
  // item (or an earlier pair) is known by the time a later alias names it.
  const walkInside = (node: object, depth: number): void => {
    if (isSeq(node)) {
      for (let i = 0; i < node.items.length && !problem; i++) {
        node.items[i] = resolve(node.items[i]);
        walk(node.items[i], depth + 1);
      }
      return;
    }
    if (!isMap(node)) return;
    const own: Pair[] = [];
    const merged: Pair[] = [];
    for (const pair of node.items) {
      if (problem) return;
      if (!isMergeKey(pair)) {
        if (isPair(pair)) pair.value = resolve(pair.value) as typeof pair.value;
        walk(pair.value, depth + 1);
        own.push(pair);
        continue;
      }
      const value = resolve(pair.value);
      const sources = isSeq(value) ? value.items : [value];
      for (let i = 0; i < sources.length && !problem; i++) {
        const source = resolve(sources[i]);
        if (!isMap(source)) {
          fail('a merge key (<<) must name a mapping, or a list of them', pair.value);
          return;
        }
        walk(source, depth + 1);
        for (const p of source.items) {
          if (!charge(node)) return;
          merged.push(p);
        }
      }
    }
    // Keys written in the map win over merged ones; of those, the first source wins (YAML 1.1 merge).
    const keys = new Set(own.map(keyOf));
    for (const pair of merged) {
      if (keys.has(keyOf(pair))) continue;
      keys.add(keyOf(pair));
      own.push(pair);
    }
    node.items = own;
  };
  doc.contents = resolve(doc.contents) as typeof doc.contents;
  walk(doc.contents, 0);
  return problem;
}
