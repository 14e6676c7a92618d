// The lab's MPTCP set-up (issue 13), as OpenMPTCProuter has it: an aggregation VPS behind both
// ISPs (namespace `agg`, 203.0.113.20) running an MPTCP echo server, and an MPTCP client on the
// gateway, both test/lab/mptcp_peer.py. The VPS counts the data that reaches it from each of
// the gateway's uplink addresses (nftables counters), so a test sees which subflow carries it.
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { eachLine, type Lab, ROOT } from './lab.js';

export const AGG = '203.0.113.20';
export const AGG_PORT = 7000;
const PEER = join(ROOT, 'test/lab/mptcp_peer.py');
/** Longer than any data-less MPTCP packet (40 bytes of headers, up to 40 of options). */
const DATA_PACKET = 150;

/** The aggregation VPS: its namespace, link to the internet, server and counters. */
export async function startAggregation(lab: Lab): Promise<void> {
  const agg = lab.ns('agg');
  const ip = (args: string[]) => execa('ip', args);
  await ip(['netns', 'add', agg]);
  await ip(['-n', agg, 'link', 'set', 'lo', 'up']);
  await ip(['-n', lab.ns('inet'), 'link', 'add', 'agg', 'type', 'veth', 'peer', 'name', 'toinet', 'netns', agg]);
  await ip(['-n', lab.ns('inet'), 'addr', 'add', '100.64.40.1/24', 'dev', 'agg']);
  await ip(['-n', lab.ns('inet'), 'link', 'set', 'agg', 'up']);
  await ip(['-n', agg, 'addr', 'add', '100.64.40.2/24', 'dev', 'toinet']);
  await ip(['-n', agg, 'addr', 'add', `${AGG}/32`, 'dev', 'lo']);
  await ip(['-n', agg, 'link', 'set', 'toinet', 'up']);
  await ip(['-n', agg, 'route', 'add', 'default', 'via', '100.64.40.1']);
  await ip(['-n', lab.ns('inet'), 'route', 'add', `${AGG}/32`, 'via', '100.64.40.2']);
  // An aggregation server takes a subflow per client uplink (OpenMPTCProuter sets 8).
  await lab.exec('agg', 'ip', ['mptcp', 'limits', 'set', 'subflows', '8', 'add_addr_accepted', '8']);
  const counters = lab.isps
    .map((isp) => `ip saddr ${isp.wanAddress} tcp dport ${AGG_PORT} meta length > ${DATA_PACKET} counter comment "${isp.wanAddress}"`)
    .join('; ');
  await execa('ip', ['netns', 'exec', agg, 'nft', '-f', '-'], { input: `table ip agg { chain in { type filter hook input priority 0; ${counters}; }; }` });
  const server = lab.exec('agg', 'python3', [PEER, 'serve', AGG, String(AGG_PORT), '600'], { reject: false });
  await new Promise<void>((ready, fail) => {
    server.stdout!.once('data', () => ready());
    void server.then((r) => fail(new Error(`mptcp echo server exited: ${r.stderr}`)));
  });
}

/** Data packets that reached the VPS from each uplink address so far. */
export async function dataPacketsFrom(lab: Lab): Promise<Record<string, number>> {
  const r = await lab.exec('agg', 'nft', ['-j', 'list', 'table', 'ip', 'agg']);
  const out: Record<string, number> = {};
  for (const item of (JSON.parse(r.stdout) as { nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[] }).nftables) {
    const rule = item.rule;
    const packets = rule?.expr.find((e) => e.counter)?.counter?.packets;
    if (rule?.comment && packets !== undefined) out[rule.comment] = packets;
  }
  return out;
}

export interface EchoGap {
  /** Wall-clock ms of the echo before the gap and the one that ended it. */
  readonly from: number;
  readonly to: number;
  readonly ms: number;
}

export interface ClientResult {
  readonly sent: number;
  readonly echoed: number;
  /** Echoes that came back different from what was sent, or out of order: bytes lost or mixed. */
  readonly bad: number;
  /** Every gap between two echoes over 30 ms. */
  readonly gaps: readonly EchoGap[];
  /** The longest gap between two echoes (null: fewer than two echoes). */
  readonly longest: EchoGap | null;
}

export interface MptcpClient {
  /** Resolves with the local address of the initial subflow once connected. */
  readonly connected: Promise<string>;
  /** Resolves when the client ends (after `seconds`, or `stop()`). */
  readonly done: Promise<ClientResult>;
  stop(): void;
}

/** An MPTCP client on the gateway sending a message every `intervalMs` for at most `seconds`. */
export function mptcpClient(lab: Lab, seconds: number, intervalMs = 10): MptcpClient {
  const proc: ResultPromise = lab.exec('gw', 'python3', [PEER, 'client', AGG, String(AGG_PORT), String(seconds), String(intervalMs)], { reject: false });
  const lines: string[] = [];
  let onConnect: (local: string) => void = () => undefined;
  const connected = new Promise<string>((resolve) => (onConnect = resolve));
  eachLine(proc.stdout!, (line) => {
    lines.push(line);
    const parsed = JSON.parse(line) as { connected?: boolean; local?: string };
    if (parsed.connected) onConnect(parsed.local!);
  });
  const done = proc.then((r) => {
    const last = lines.find((l) => l.includes('"sent"'));
    if (!last) throw new Error(`mptcp client ended without a result (exit ${r.exitCode}): ${String(r.stderr).slice(-500)}`);
    return JSON.parse(last) as ClientResult;
  });
  return { connected, done, stop: () => proc.kill('SIGTERM') };
}

/** The longest gap between two echoes. */
export function longestGap(r: ClientResult): EchoGap {
  if (!r.longest) throw new Error(`the mptcp client got ${r.echoed} echoes: no gap to measure`);
  return r.longest;
}
