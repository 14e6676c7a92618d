// YAML text -> validated, frozen Config (src/README.md §2). Every problem is collected with its
// position, so an operator fixes a file in one pass instead of one error per run.
import { isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLError } from 'yaml';
import type { Config, RoutingSettings, UplinkConfig } from '../types/index.js';
import {
  DEFAULT_FAILBACK,
  DEFAULT_MARK_MASK,
  DEFAULT_PROBE,
  DEFAULT_SOCKET,
  DEFAULT_TABLE,
  hex,
  markCapacity,
  MAX_ID,
  MAX_SOCKET_PATH,
  MAX_UPLINKS,
  RANGE,
  UPLINK_TABLE_OFFSET,
} from '../types/layout.js';
import { Checker, entries } from './checker.js';
import type { ConfigProblem } from './problems.js';
import { parseHooks } from './hooks-section.js';
import { parseMptcp } from './mptcp-section.js';
import { parseMetrics } from './metrics-section.js';
import { parseProbe } from './probe-section.js';
import {
  checkConnected,
  parseDampening,
  parseDestinations,
  parseFailback,
  parseHashPolicy,
  parseMarkMask,
  parseTable,
  REMOVED_ROUTING_KEYS,
  ROUTING_KEYS,
} from './routing-section.js';
import { parseUplink } from './uplink-section.js';
import { flattenAliases, MAX_DEPTH } from './yaml-tree.js';
import type { ParseOptions } from './tables.js';

/** The defaults and ranges live with the kernel layout (types/layout.ts); these are the config's API. */
export { DEFAULT_PROBE, DEFAULT_SOCKET, RANGE };

const MAX_YAML_ERRORS = 20;
/** useradd's rule for names (a trailing $ for machine accounts). */
const GROUP_NAME = /^[a-z_][a-z0-9_-]{0,30}\$?$/i;

export type ParseResult = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/** The yaml package's message, in the operator's words where it speaks of itself. */
function yamlMessage(err: YAMLError): string {
  if (err.code === 'MULTIPLE_DOCS') return 'the file holds more than one YAML document (a second "---"); a config is one document';
  // The composer recurses per level; the package reports running out of stack as an error.
  if (err.code === 'RESOURCE_EXHAUSTION' || /call stack/i.test(err.message)) return `nested too deeply (a config needs fewer than ${MAX_DEPTH} levels)`;
  return err.message.split('\n')[0]!;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function parseConfig(text: string, opts: ParseOptions = {}): ParseResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  const c = new Checker(lines);
  // A broken file can hold thousands of errors; the first ones are what an operator fixes.
  for (const err of doc.errors.slice(0, MAX_YAML_ERRORS)) c.report('YAML_SYNTAX', yamlMessage(err), err.pos[0]);
  const more = doc.errors.length - MAX_YAML_ERRORS;
  if (more > 0) c.report('YAML_SYNTAX', `${more} more YAML error${more > 1 ? 's' : ''} from here on, not listed`, doc.errors[MAX_YAML_ERRORS]!.pos[0]);
  if (doc.errors.length > 0) return { ok: false, problems: c.problems };
  const flat = flattenAliases(doc);
  if (flat) {
    c.report('YAML_SYNTAX', flat.message, flat.offset);
    return { ok: false, problems: c.problems };
  }
  const root = c.map(doc.contents, 'the config', ['uplinks', 'probe', 'routing', 'control', 'hooks', 'metrics', 'mptcp'], true);
  if (!root) return { ok: false, problems: c.problems };
  const top = entries(root);

  const probe = top.has('probe') ? parseProbe(c, top.get('probe')!.value, 'probe', DEFAULT_PROBE) : DEFAULT_PROBE;

  const routingMap = top.has('routing') ? c.map(top.get('routing')!.value, 'routing', [...ROUTING_KEYS, ...Object.keys(REMOVED_ROUTING_KEYS)]) : undefined;
  const routing = entries(routingMap);
  for (const [key, instead] of Object.entries(REMOVED_ROUTING_KEYS)) {
    const hit = routing.get(key);
    if (hit) c.report('REMOVED_KEY', `routing.${key} was removed: ${instead}; delete the key`, hit.pair.key as Node);
  }
  const table = routing.has('table') ? parseTable(c, routing.get('table')!.value, opts) : DEFAULT_TABLE;
  const destinationNodes = parseDestinations(c, routing.get('destinations')?.value);
  const destinations = destinationNodes.map((d) => d.destination);
  const failback = routing.has('failback') ? parseFailback(c, routing.get('failback')!.value) : DEFAULT_FAILBACK;
  const flag = (key: string): boolean => (routing.has(key) ? (c.boolean(routing.get(key)!.value, `routing.${key}`) ?? false) : false);
  const routingSettings: RoutingSettings = {
    table,
    destinations,
    failback,
    markMask: routing.has('mark_mask') ? parseMarkMask(c, routing.get('mark_mask')!.value) : DEFAULT_MARK_MASK,
    hashPolicy: routing.has('hash_policy') ? parseHashPolicy(c, routing.get('hash_policy')!.value) : 'set',
    removeOnExit: flag('remove_on_exit'),
    // Required under mptcp: (checked below).
    sourceRules: flag('source_rules') || top.has('mptcp'),
    conntrackFlush: flag('conntrack_flush'),
    ...(routing.has('dampening') ? { dampening: parseDampening(c, routing.get('dampening')!.value) } : {}),
  };
  const control = entries(top.has('control') ? c.map(top.get('control')!.value, 'control', ['socket', 'group']) : undefined);
  let socket = DEFAULT_SOCKET;
  if (control.has('socket')) {
    const node = control.get('socket')!.value as Node;
    const s = c.string(node, 'control.socket');
    if (s !== undefined && (!s.startsWith('/') || s.endsWith('/')))
      c.report('BAD_VALUE', `control.socket must be an absolute path to a file, not "${s}"`, node);
    // struct sockaddr_un has 108 bytes for the path, its NUL included (unix(7)).
    else if (s !== undefined && Buffer.byteLength(s) > MAX_SOCKET_PATH)
      c.report('BAD_VALUE', `control.socket is ${Buffer.byteLength(s)} bytes long; a Unix socket path has at most ${MAX_SOCKET_PATH}`, node);
    else if (s !== undefined) socket = s;
  }
  let group: string | number | undefined;
  if (control.has('group')) {
    const node = control.get('group')!.value;
    if (isScalar(node) && typeof node.value === 'number') group = c.integer(node, 'control.group', 0, MAX_ID);
    else {
      const g = c.string(node, 'control.group');
      if (g !== undefined && !GROUP_NAME.test(g)) c.report('BAD_VALUE', `control.group must be a group name or a numeric id, not "${g}"`, node as Node);
      else group = g;
    }
  }

  const uplinks: UplinkConfig[] = [];
  const uplinksNode = top.get('uplinks');
  if (!uplinksNode) c.report('MISSING_KEY', 'the config has no uplinks: at least one is needed', root);
  else if (!isSeq(uplinksNode.value) || uplinksNode.value.items.length === 0) {
    c.report('WRONG_TYPE', 'uplinks must be a non-empty list', (uplinksNode.value as Node) ?? uplinksNode.pair);
  } else if (uplinksNode.value.items.length > MAX_UPLINKS) {
    c.report('BAD_VALUE', `uplinks: at most ${MAX_UPLINKS} (their rule priorities are numbered in fixed ranges)`, uplinksNode.value as Node);
  } else if (uplinksNode.value.items.length > markCapacity(routingSettings.markMask)) {
    const mask = routingSettings.markMask;
    c.report(
      'BAD_VALUE',
      `routing.mark_mask ${hex(mask)} has room for ${markCapacity(mask)} uplinks, not ${uplinksNode.value.items.length}: give it more bits`,
      (routing.get('mark_mask')?.value ?? uplinksNode.value) as Node,
    );
  } else {
    const seen = new Map<string, number>();
    const interfaces = new Map<string, number>();
    uplinksNode.value.items.forEach((item, i) => {
      const path = `uplinks[${i}]`;
      const draft = parseUplink(c, item, path);
      if (!draft) return;
      const u = draft.uplink;
      const uplinkProbe = draft.probeNode !== undefined ? parseProbe(c, draft.probeNode, `${path}.probe`, probe) : probe;
      if (u.name) {
        const first = seen.get(u.name);
        if (first !== undefined) {
          c.report('DUPLICATE_NAME', `uplink name "${u.name}" is already used by uplinks[${first}]`, draft.nameNode);
        } else seen.set(u.name, i);
      }
      if (u.interface) {
        const first = interfaces.get(u.interface);
        // Heartbeats find their uplink by `oif IFACE`: a second uplink on it would probe through the first one's table.
        if (first !== undefined) {
          c.report(
            'DUPLICATE_INTERFACE',
            `interface ${u.interface} is already used by uplinks[${first}]; each uplink needs an interface of its own (a VLAN or macvlan interface per gateway)`,
            draft.interfaceNode,
          );
        } else interfaces.set(u.interface, i);
      }
      const targetCount = isSeq(draft.targetsNode) ? draft.targetsNode.items.length : 0;
      if (targetCount > 0 && uplinkProbe.reliability > targetCount) {
        c.report(
          'RELIABILITY_TOO_HIGH',
          `${path}: reliability ${uplinkProbe.reliability} is more than its ${targetCount} target(s); no round could ever be good`,
          draft.targetsNode,
        );
      }
      // Each uplink's own heartbeat table follows the managed one (src/README.md §4).
      uplinks.push({ ...u, probe: uplinkProbe, table: uplinkTable(table, i) });
    });
  }

  const hooks = top.has('hooks') ? parseHooks(c, top.get('hooks')!.value) : [];
  const metrics = top.has('metrics') ? parseMetrics(c, top.get('metrics')!.value) : undefined;
  const mptcp = top.has('mptcp') ? parseMptcp(c, top.get('mptcp')!.value, uplinks) : undefined;
  // A subflow bound to an uplink's address must leave through that uplink (src/README.md §4).
  // sourceRules is forced on above, so the value as written is what is checked (a non-boolean has its WRONG_TYPE).
  const sourceRulesNode = routing.get('source_rules')?.value;
  if (top.has('mptcp') && isScalar(sourceRulesNode) && sourceRulesNode.value === false)
    c.report(
      'BAD_VALUE',
      'routing.source_rules cannot be false with mptcp: each subflow must leave through the uplink its address belongs to',
      sourceRulesNode,
    );

  checkConnected(c, table, destinationNodes, uplinks);
  if (c.problems.length > 0) return { ok: false, problems: c.sorted() };
  return {
    ok: true,
    config: deepFreeze({
      uplinks,
      probe,
      routing: routingSettings,
      control: { socket, ...(group !== undefined ? { group } : {}) },
      hooks,
      ...(metrics ? { metrics } : {}),
      ...(mptcp ? { mptcp } : {}),
    }),
  };
}

/**
 * The table holding uplink number `index`'s own default route, for its heartbeats
 * (src/README.md §4): 1000 above the managed table, so it never hits a reserved id (253-255).
 */
export function uplinkTable(managedTable: number, index: number): number {
  return managedTable + UPLINK_TABLE_OFFSET + index;
}
