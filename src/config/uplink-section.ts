// One entry of `uplinks`: its name, interface, gateways, priority, weight and heartbeat targets.
import ipaddr from 'ipaddr.js';
import { isScalar, isSeq, type Node } from 'yaml';
import { AUTO_GATEWAY, type Target, type UplinkConfig } from '../types/index.js';
import { addressFamily } from '../types/address.js';
import { IFNAME_RULE, isInterfaceName, MAX_TARGETS } from '../types/layout.js';
import { type Checker, entries } from './checker.js';

/** Addresses a heartbeat can never be answered from through an uplink (ipaddr.js ranges). */
const NO_TARGET_RANGES: Record<string, string> = {
  unspecified: 'the unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  loopback: 'a loopback address',
};

const UPLINK_NAME = /^[a-z0-9][a-z0-9_-]{0,14}$/;

function parseTarget(c: Checker, node: unknown, path: string): Target | undefined {
  const map = c.map(node, path, ['icmp', 'tcp']);
  if (!map) return undefined;
  if (map.items.length !== 1) {
    c.report('WRONG_TYPE', `${path} must have exactly one key, icmp or tcp`, map);
    return undefined;
  }
  const pair = map.items[0]!;
  const kind = isScalar(pair.key) ? String(pair.key.value) : '';
  const text = c.string(pair.value, `${path}.${kind}`);
  if (text === undefined) return undefined;
  const at = pair.value as Node;
  if (kind === 'icmp') {
    const family = addressFamily(text);
    if (!family) {
      c.report('BAD_ADDRESS', `${path}.icmp: "${text}" is not an IPv4 or IPv6 address`, at);
      return undefined;
    }
    if (!heartbeatTarget(c, text, `${path}.icmp`, at)) return undefined;
    return { kind: 'icmp', host: text, family, label: `icmp ${text}` };
  }
  if (kind === 'tcp') {
    // HOST:PORT, or [V6]:PORT for IPv6 (RFC 3986 authority form).
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
    const family = m ? addressFamily(m[1]!) : undefined;
    const port = m ? Number(m[2]) : NaN;
    if (!m || !family) {
      c.report('BAD_ADDRESS', `${path}.tcp: "${text}" is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)`, at);
      return undefined;
    }
    if (port < 1 || port > 65535) {
      c.report('BAD_VALUE', `${path}.tcp: port ${port} is not between 1 and 65535`, at);
      return undefined;
    }
    if (!heartbeatTarget(c, m[1]!, `${path}.tcp`, at)) return undefined;
    return { kind: 'tcp', host: m[1]!, port, family, label: `tcp ${text}` };
  }
  return undefined;
}

/** Whether `address` can answer a heartbeat sent out of an uplink; reports why not. */
function heartbeatTarget(c: Checker, address: string, path: string, at: Node): boolean {
  const why = NO_TARGET_RANGES[ipaddr.parse(address).range()];
  if (why) c.report('BAD_ADDRESS', `${path}: ${address} is ${why}; a heartbeat target must be a unicast host beyond the uplink`, at);
  return !why;
}

export interface UplinkDraft {
  uplink: Omit<UplinkConfig, 'probe' | 'table'>;
  probeNode?: unknown;
  targetsNode?: Node;
  nameNode?: Node;
  interfaceNode?: Node;
}

const UPLINK_KEYS = ['name', 'interface', 'gateway', 'gateway6', 'priority', 'weight', 'targets', 'probe'];

export function parseUplink(c: Checker, node: unknown, path: string): UplinkDraft | undefined {
  const map = c.map(node, path, UPLINK_KEYS);
  if (!map) return undefined;
  const e = entries(map);
  const required = (key: string): unknown => {
    const hit = e.get(key);
    if (!hit) c.report(key === 'targets' ? 'MISSING_TARGETS' : 'MISSING_KEY', `${path} has no ${key}`, map);
    return hit?.value;
  };
  let name = '';
  const nameNode = required('name');
  if (nameNode !== undefined) {
    const text = c.string(nameNode, `${path}.name`);
    if (text !== undefined && !UPLINK_NAME.test(text)) {
      c.report('BAD_NAME', `uplink name "${text}" must be 1 to 15 characters of a-z, 0-9, "_" and "-", starting with a letter or digit`, nameNode as Node);
    } else if (text !== undefined) name = text;
  }
  let iface = '';
  const ifaceNode = required('interface');
  if (ifaceNode !== undefined) {
    const text = c.string(ifaceNode, `${path}.interface`);
    if (text !== undefined && !isInterfaceName(text)) {
      c.report('BAD_INTERFACE', `${path}.interface: ${JSON.stringify(text)} is not an interface name uplinkd accepts: ${IFNAME_RULE}`, ifaceNode as Node);
    } else if (text !== undefined) iface = text;
  }
  const gatewayOf = (key: 'gateway' | 'gateway6', want: 4 | 6): string | undefined => {
    const hit = e.get(key);
    if (!hit) return undefined;
    const text = c.string(hit.value, `${path}.${key}`);
    if (text === undefined) return undefined;
    if (text === AUTO_GATEWAY) return text;
    const family = addressFamily(text);
    if (!family)
      c.report(
        'BAD_ADDRESS',
        `${path}.${key}: "${text}" is neither an IPv${want} address nor \`auto\` (learnt from DHCP or router advertisements)`,
        hit.value as Node,
      );
    else if (family !== want)
      c.report('WRONG_FAMILY', `${path}.${key} must be an IPv${want} address or \`auto\`, "${text}" is IPv${family}`, hit.value as Node);
    else return text;
    return undefined;
  };
  const gateway = gatewayOf('gateway', 4);
  const gateway6 = gatewayOf('gateway6', 6);
  const priority = e.has('priority') ? c.integer(e.get('priority')!.value, `${path}.priority`, 0, 1_000_000) : 1;
  const weight = e.has('weight') ? c.integer(e.get('weight')!.value, `${path}.weight`, 1, 256) : 1;
  const targets: Target[] = [];
  const targetsNode = required('targets');
  if (targetsNode !== undefined) {
    if (!isSeq(targetsNode)) c.report('WRONG_TYPE', `${path}.targets must be a list`, targetsNode as Node);
    else if (targetsNode.items.length === 0) c.report('MISSING_TARGETS', `${path}.targets is empty: at least one heartbeat target is needed`, targetsNode);
    else if (targetsNode.items.length > MAX_TARGETS)
      c.report('BAD_VALUE', `${path}.targets: at most ${MAX_TARGETS} heartbeat targets per uplink, not ${targetsNode.items.length}`, targetsNode);
    else {
      targetsNode.items.forEach((t, i) => {
        const target = parseTarget(c, t, `${path}.targets[${i}]`);
        if (target) targets.push(target);
      });
    }
  }
  const draft: UplinkDraft = {
    uplink: {
      name,
      interface: iface,
      ...(gateway ? { gateway } : {}),
      ...(gateway6 ? { gateway6 } : {}),
      priority: priority ?? 1,
      weight: weight ?? 1,
      targets,
    },
    nameNode: nameNode as Node,
    interfaceNode: ifaceNode as Node,
  };
  if (e.has('probe')) draft.probeNode = e.get('probe')!.value;
  if (isSeq(targetsNode)) draft.targetsNode = targetsNode;
  return draft;
}
