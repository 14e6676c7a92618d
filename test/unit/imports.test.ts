// The import rule of src/README.md §1, read from the import lines of src/: each folder imports
// only the folders and packages its row allows (the pure folders nothing that touches the
// system, the kernel folders no other kernel folder but netlink/), and no file reaches itself
// through its imports, type-only ones included.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

interface Allowed {
  readonly folders: readonly string[];
  readonly packages: readonly string[];
  /** node:* built-ins. */
  readonly node: boolean;
}

const PURE = ['health', 'steer', 'track', 'status'];
const pure = (...folders: string[]): Allowed => ({ folders: [...folders, 'types'], packages: [], node: false });
const kernel = (folders: string[], packages: string[] = []): Allowed => ({ folders: [...folders, 'types'], packages, node: true });

/** One row per folder of src/README.md §1. */
export const RULES: Readonly<Record<string, Allowed>> = {
  types: { folders: [], packages: ['ipaddr.js'], node: true },
  config: { folders: ['types'], packages: ['yaml', 'ipaddr.js'], node: true },
  health: pure(),
  steer: pure(),
  track: pure('health', 'steer'),
  status: pure('health', 'steer', 'track'),
  native: { folders: [], packages: [], node: true },
  netlink: kernel(['native'], ['netlink']),
  probe: kernel(['native', 'netlink']),
  link: kernel(['native', 'netlink'], ['netlink']),
  route: kernel(['native', 'netlink'], ['netlink']),
  // nft -f runs through host/'s command runner (DESIGN §1).
  nft: kernel(['native', 'netlink', 'host'], ['netlink']),
  mptcp: kernel(['netlink'], ['netlink']),
  host: kernel(['netlink']),
  control: kernel(['native']),
  hooks: kernel(['native'], ['execa']),
  metrics: kernel([], ['prom-client']),
  notify: kernel(['native']),
  cli: kernel(['config', 'control', 'daemon']),
  daemon: { folders: ['*'], packages: ['*'], node: true },
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
    });
}

/** Every module a file names: static imports and re-exports (type-only too), and dynamic import(). */
export function importedSpecifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*'([^']+)'/gms)) out.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s*'([^']+)'/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]!);
  return out;
}

interface Edge {
  readonly from: string;
  readonly to: string;
}

function readGraph(): { files: string[]; edges: Edge[]; packages: Edge[] } {
  const files = sourceFiles(SRC).map((f) => relative(SRC, f));
  const edges: Edge[] = [];
  const packages: Edge[] = [];
  for (const file of files) {
    for (const spec of importedSpecifiers(readFileSync(join(SRC, file), 'utf8'))) {
      if (spec.startsWith('.')) edges.push({ from: file, to: relative(SRC, resolve(SRC, dirname(file), spec)).replace(/\.js$/, '.ts') });
      else packages.push({ from: file, to: spec });
    }
  }
  return { files, edges, packages };
}

const folderOf = (file: string): string => (file.includes('/') ? file.split('/')[0]! : '');

/** What a folder's row forbids of these imports, one line each. */
export function violations(edges: readonly Edge[], packages: readonly Edge[], rules: Readonly<Record<string, Allowed>>): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const [from, to] = [folderOf(e.from), folderOf(e.to)];
    const rule = rules[from];
    if (!rule) out.push(`${e.from}: folder ${from || '(top)'} has no row in the import rule`);
    else if (from !== to && !rule.folders.includes('*') && !rule.folders.includes(to))
      out.push(`${e.from} imports ${e.to}: ${from}/ may import ${rule.folders.join(', ') || 'no folder'}`);
  }
  for (const e of packages) {
    const rule = rules[folderOf(e.from)];
    if (!rule || rule.packages.includes('*')) continue;
    if (e.to.startsWith('node:') ? !rule.node : !rule.packages.includes(e.to))
      out.push(`${e.from} imports ${e.to}: ${folderOf(e.from)}/ may import ${[...(rule.node ? ['node:*'] : []), ...rule.packages].join(', ') || 'no package'}`);
  }
  return out;
}

/** The import circles among `files`, each as the files it passes through (Tarjan's strongly connected components). */
export function circles(files: readonly string[], edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)?.push(e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || (next.get(v) ?? []).includes(v)) out.push(component.sort());
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return out;
}

describe('the import rule (src/README.md §1)', () => {
  const { files, edges, packages } = readGraph();

  it('reads the imports of every file of src/', () => {
    assert.ok(files.length > 80, `${files.length} files`);
    assert.ok(
      edges.some((e) => e.from === 'track/uplink.ts' && e.to === 'health/index.ts'),
      'track/uplink.ts imports health/ (a multi-line import)',
    );
  });

  it('each folder imports only what its row allows', () => {
    assert.deepEqual(violations(edges, packages, RULES), []);
  });

  it('every folder of src/ has a row, and the pure ones touch nothing', () => {
    assert.deepEqual(
      [...new Set(files.map(folderOf))].filter((f) => !(f in RULES)),
      [],
    );
    for (const p of PURE) assert.deepEqual(RULES[p]!.packages, [], p);
  });

  it('no import circle, type-only imports included', () => {
    assert.deepEqual(circles(files, edges), []);
  });

  it('a planted violation is found: a pure folder importing the kernel, a kernel folder another, a circle', () => {
    const planted = [
      { from: 'track/reduce.ts', to: 'route/router.ts' },
      { from: 'route/router.ts', to: 'mptcp/endpoints.ts' },
    ];
    assert.deepEqual(violations(planted, [{ from: 'status/view.ts', to: 'node:fs' }], RULES), [
      'track/reduce.ts imports route/router.ts: track/ may import health, steer, types',
      'route/router.ts imports mptcp/endpoints.ts: route/ may import native, netlink, types',
      'status/view.ts imports node:fs: status/ may import no package',
    ]);
    assert.deepEqual(
      circles(
        ['a.ts', 'b.ts', 'c.ts'],
        [
          { from: 'a.ts', to: 'b.ts' },
          { from: 'b.ts', to: 'a.ts' },
          { from: 'b.ts', to: 'c.ts' },
        ],
      ),
      [['a.ts', 'b.ts']],
    );
  });

  it('reads multi-line and type-only imports, re-exports and dynamic imports', () => {
    const text = "import {\n  a,\n  b,\n} from './x.js';\nimport type { C } from '../y.js';\nexport * from './z.js';\nconst m = await import('./w.js');\n";
    assert.deepEqual(importedSpecifiers(text).sort(), ['../y.js', './w.js', './x.js', './z.js']);
  });
});

/** Files and folders of src/ by size (the layout's limits: no file over 400 lines, no folder over 20%). */
describe('the layout (issue 23)', () => {
  const files = sourceFiles(SRC).map((f) => ({ file: relative(SRC, f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }));
  const total = files.reduce((n, f) => n + f.lines, 0);

  it('no file of src/ over 400 lines', () => {
    assert.deepEqual(
      files.filter((f) => f.lines > 400).map((f) => `${f.file}: ${f.lines}`),
      [],
    );
  });

  it('no folder over 20% of src/', () => {
    const byFolder = new Map<string, number>();
    for (const f of files) byFolder.set(folderOf(f.file), (byFolder.get(folderOf(f.file)) ?? 0) + f.lines);
    assert.deepEqual(
      [...byFolder].filter(([, n]) => n > total * 0.2).map(([d, n]) => `${d}/: ${n} of ${total} lines`),
      [],
    );
  });
});
