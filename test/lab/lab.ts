// The lab (DESIGN §6): a gateway namespace running uplinkd, one namespace per ISP, an
// "internet" namespace holding the heartbeat targets and a traffic sink, and a LAN host.
// Nothing here touches the root namespace: every link is created inside a namespace.
// Dual-stack: link i is 100.64.i.0/24 and 2001:db8:i::/64, ISP i to the internet
// 100.64.(10+i).0/24 and 2001:db8:(10+i)::/64; IPv6 targets are 2001:db8::10-12.
//
//   lan --lan0-- gw --wan1-- isp1 --tonet-- inet (targets 198.51.100.10-12, sink 203.0.113.10)
//                   --wan2-- isp2 --tonet--/
//
// Names carry a per-run prefix `ulk-<pid>-<rand>`; destroy() removes everything, an exit
// hook does the same if a test dies, and sweep() removes what dead runs left behind.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = join(ROOT, 'dist/src/cli/main.js');
const TRAFFIC = join(ROOT, 'dist/test/lab/traffic.js');
const FLOWS = join(ROOT, 'dist/test/lab/flows.js');
const RESPONDER = join(ROOT, 'dist/test/lab/responder.js');
const PREFIX = 'ulk';

export const TARGETS = ['198.51.100.10', '198.51.100.11', '198.51.100.12'];
export const TARGETS6 = ['2001:db8::10', '2001:db8::11', '2001:db8::12'];
export const SINK = '203.0.113.10';
export const SINK_PORT = 9999;
/** The UDP echo server's port on SINK (`echoStream`). */
export const ECHO_PORT = 9998;

/** `gw2` and `sw` (the LAN's switch) only in a pair lab. */
export type Role = 'gw' | 'gw2' | 'sw' | 'inet' | 'lan' | `isp${number}` | `vps${number}` | 'agg';

export interface Isp {
  readonly index: number;
  /** The uplink interface on the gateway. */
  readonly wan: string;
  readonly gatewayAddress: string;
  readonly wanAddress: string;
}

const live = new Set<Lab>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const lab of live) lab.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const lab of live) lab.destroySync();
      process.exit(130);
    });
  }
}

async function ip(args: string[]): Promise<string> {
  const r = await execa('ip', args);
  return r.stdout;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function destroyNamespaces(names: string[]): void {
  for (const ns of names) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
      for (const p of pids) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch {
      // namespace already gone
    }
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

function labNamespaces(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Removes namespaces and scratch dirs of lab runs whose process is gone. Returns what it removed. */
export function sweep(): string[] {
  const removed: string[] = [];
  const dead = (name: string): boolean => {
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name);
    return !!m && !pidAlive(Number(m[1]));
  };
  const stale = labNamespaces(PREFIX).filter(dead);
  destroyNamespaces(stale);
  removed.push(...stale);
  for (const d of readdirSync('/tmp')) {
    if (dead(d)) {
      rmSync(join('/tmp', d), { recursive: true, force: true });
      removed.push(`/tmp/${d}`);
    }
  }
  return removed;
}

export interface LabOptions {
  readonly isps?: number;
  /**
   * A VXLAN tunnel through each ISP to a VPS of its own (`tun1` over wan1 to vps1, ...), as an
   * OpenMPTCProuter-style gateway has: point-to-point uplinks without a gateway address.
   */
  readonly tunnels?: boolean;
  /**
   * Two gateways on one LAN (a bridge in `sw`), as an HA pair has them: `gw` with ISPs 1 and 2,
   * `gw2` with ISPs 3 and 4, each calling its uplinks wan1 and wan2. Their LAN addresses are
   * 100.64.100.3 and .4; the LAN host's default route is 100.64.100.1, the address VRRP moves.
   */
  readonly pair?: boolean;
}

export class Lab {
  readonly prefix = `${PREFIX}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly dir = join('/tmp', this.prefix);
  readonly isps: Isp[] = [];
  private readonly processes = new Set<ResultPromise>();
  private destroyed = false;

  private constructor(
    readonly ispCount: number,
    readonly tunnels = false,
    readonly pair = false,
  ) {}

  static async create(opts: LabOptions = {}): Promise<Lab> {
    hookExit();
    sweep();
    const lab = new Lab(opts.pair ? 4 : (opts.isps ?? 2), opts.tunnels ?? false, opts.pair ?? false);
    live.add(lab);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  ns(role: Role): string {
    return `${this.prefix}-${role}`;
  }

  /** Runs a command inside a namespace. */
  exec(role: Role, cmd: string, args: string[], opts: { reject?: boolean; input?: string } = {}) {
    return execa('ip', ['netns', 'exec', this.ns(role), cmd, ...args], {
      reject: opts.reject ?? true,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  }

  private async sysctl(role: Role, key: string, value: string): Promise<void> {
    await this.exec(role, 'sysctl', ['-qw', `${key}=${value}`]);
  }

  private async nft(role: Role, script: string): Promise<void> {
    await execa('ip', ['netns', 'exec', this.ns(role), 'nft', '-f', '-'], { input: script });
  }

  /** Loads an nftables script in a namespace, as a firewall reload does. */
  async nftScript(role: Role, script: string): Promise<void> {
    await this.nft(role, script);
  }

  private async build(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const addr6 = (role: Role, prefix: string, dev: string) => this.addr6(role, prefix, dev);
    const roles: Role[] = [
      'gw',
      ...(this.pair ? (['gw2', 'sw'] as const) : []),
      'inet',
      'lan',
      ...Array.from({ length: this.ispCount }, (_, i) => `isp${i + 1}` as Role),
      ...(this.tunnels ? Array.from({ length: this.ispCount }, (_, i) => `vps${i + 1}` as Role) : []),
    ];
    for (const r of roles) {
      await ip(['netns', 'add', this.ns(r)]);
      await ip(['-n', this.ns(r), 'link', 'set', 'lo', 'up']);
    }
    for (const r of roles) {
      if (r === 'lan') continue;
      await this.sysctl(r, 'net.ipv4.ip_forward', '1');
      await this.sysctl(r, 'net.ipv6.conf.all.forwarding', '1');
    }
    if (this.pair) await this.buildSharedLan();
    else {
      // LAN <-> gateway
      await ip(['-n', this.ns('gw'), 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns('lan')]);
      await ip(['-n', this.ns('gw'), 'addr', 'add', '100.64.100.1/24', 'dev', 'lan0']);
      await ip(['-n', this.ns('gw'), 'link', 'set', 'lan0', 'up']);
      await ip(['-n', this.ns('lan'), 'addr', 'add', '100.64.100.2/24', 'dev', 'eth0']);
      await ip(['-n', this.ns('lan'), 'link', 'set', 'eth0', 'up']);
      await ip(['-n', this.ns('lan'), 'route', 'add', 'default', 'via', '100.64.100.1']);
      await addr6('gw', '2001:db8:100::1/64', 'lan0');
      await addr6('lan', '2001:db8:100::2/64', 'eth0');
      await ip(['-n', this.ns('lan'), '-6', 'route', 'add', 'default', 'via', '2001:db8:100::1']);
    }
    // The internet: heartbeat targets and the traffic sink live on its loopback.
    for (const a of [...TARGETS, SINK]) await ip(['-n', this.ns('inet'), 'addr', 'add', `${a}/32`, 'dev', 'lo']);
    for (const a of TARGETS6) await ip(['-n', this.ns('inet'), '-6', 'addr', 'add', `${a}/128`, 'dev', 'lo']);
    for (let i = 1; i <= this.ispCount; i++) {
      const isp = `isp${i}` as Role;
      this.isps.push({ index: i, wan: this.wanOf(i).wan, gatewayAddress: `100.64.${i}.1`, wanAddress: `100.64.${i}.2` });
      await this.sysctl(isp, 'net.ipv4.ip_forward', '1');
      await ip(['-n', this.ns(isp), 'link', 'add', 'tonet', 'type', 'veth', 'peer', 'name', `isp${i}`, 'netns', this.ns('inet')]);
      await ip(['-n', this.ns(isp), 'addr', 'add', `100.64.${10 + i}.1/24`, 'dev', 'tonet']);
      await ip(['-n', this.ns(isp), 'link', 'set', 'tonet', 'up']);
      await ip(['-n', this.ns('inet'), 'addr', 'add', `100.64.${10 + i}.2/24`, 'dev', `isp${i}`]);
      await ip(['-n', this.ns('inet'), 'link', 'set', `isp${i}`, 'up']);
      await ip(['-n', this.ns(isp), 'route', 'add', 'default', 'via', `100.64.${10 + i}.2`]);
      // Replies to the gateway's NATed address go back through the ISP it came from.
      await ip(['-n', this.ns('inet'), 'route', 'add', `100.64.${i}.0/24`, 'via', `100.64.${10 + i}.1`]);
      await addr6(isp, `2001:db8:${10 + i}::1/64`, 'tonet');
      await addr6('inet', `2001:db8:${10 + i}::2/64`, `isp${i}`);
      await ip(['-n', this.ns(isp), '-6', 'route', 'add', 'default', 'via', `2001:db8:${10 + i}::2`]);
      await ip(['-n', this.ns('inet'), '-6', 'route', 'add', `2001:db8:${i}::/64`, 'via', `2001:db8:${10 + i}::1`]);
      await this.createWan(i);
    }
    // NAT per uplink on the gateway, as a home or branch router has it.
    for (const gw of this.pair ? (['gw', 'gw2'] as const) : (['gw'] as const)) {
      await this.nft(gw, 'table ip lab { chain post { type nat hook postrouting priority 100; oifname "wan*" masquerade; }; }');
    }
    // Each ISP drops what its customer sends from someone else's address (BCP 38), as real
    // ISPs do: a NATed flow moved to the other uplink dies instead of limping on.
    if (this.tunnels) for (const isp of this.isps) await this.createTunnel(isp.index);
    for (const isp of this.isps) {
      await this.nft(
        `isp${isp.index}`,
        `table ip bcp38 { chain spoof { type filter hook forward priority -10; iifname "togw" ip saddr != 100.64.${isp.index}.0/24 drop; }; }`,
      );
    }
  }

  /**
   * VPS i sits on the internet (100.64.2i.2) and ends a VXLAN tunnel from the gateway that
   * rides ISP i: `tun{i}` on the gateway (100.64.3i.2), `vx0` on the VPS (100.64.3i.1). The VPS
   * answers ARP for the whole internet on the tunnel (proxy_arp), so the gateway routes via
   * the device without a gateway address, and NATs what comes out of the tunnel.
   */
  private async createTunnel(i: number): Promise<void> {
    const vps = `vps${i}` as Role;
    await this.sysctl(vps, 'net.ipv4.ip_forward', '1');
    await ip(['-n', this.ns(vps), 'link', 'add', 'toinet', 'type', 'veth', 'peer', 'name', `vps${i}`, 'netns', this.ns('inet')]);
    await ip(['-n', this.ns(vps), 'addr', 'add', `100.64.2${i}.2/24`, 'dev', 'toinet']);
    await ip(['-n', this.ns(vps), 'link', 'set', 'toinet', 'up']);
    await ip(['-n', this.ns('inet'), 'addr', 'add', `100.64.2${i}.1/24`, 'dev', `vps${i}`]);
    await ip(['-n', this.ns('inet'), 'link', 'set', `vps${i}`, 'up']);
    await ip(['-n', this.ns(vps), 'route', 'add', 'default', 'via', `100.64.2${i}.1`]);
    // The underlay to VPS i rides ISP i, whatever the managed routes say.
    await ip(['-n', this.ns('gw'), 'route', 'add', `100.64.2${i}.2/32`, 'via', `100.64.${i}.1`, 'dev', `wan${i}`]);
    const vxlan = (local: string, remote: string, dev: string) => [
      'type',
      'vxlan',
      'id',
      String(100 + i),
      'local',
      local,
      'remote',
      remote,
      'dstport',
      '4789',
      'dev',
      dev,
    ];
    await ip(['-n', this.ns('gw'), 'link', 'add', `tun${i}`, ...vxlan(`100.64.${i}.2`, `100.64.2${i}.2`, `wan${i}`)]);
    await ip(['-n', this.ns('gw'), 'addr', 'add', `100.64.3${i}.2/24`, 'dev', `tun${i}`]);
    await ip(['-n', this.ns('gw'), 'link', 'set', `tun${i}`, 'up']);
    await ip(['-n', this.ns(vps), 'link', 'add', 'vx0', ...vxlan(`100.64.2${i}.2`, `100.64.${i}.2`, 'toinet')]);
    await ip(['-n', this.ns(vps), 'addr', 'add', `100.64.3${i}.1/24`, 'dev', 'vx0']);
    await ip(['-n', this.ns(vps), 'link', 'set', 'vx0', 'up']);
    await this.sysctl(vps, 'net.ipv4.conf.vx0.proxy_arp', '1');
    // Proxy ARP answers after a random delay of up to 0.8 s by default; a VPS has no reason to.
    await this.sysctl(vps, 'net.ipv4.neigh.vx0.proxy_delay', '0');
    await this.nft(vps, 'table ip vps { chain post { type nat hook postrouting priority 100; oifname "toinet" masquerade; }; }');
  }

  /** Which gateway ISP i serves, and the name of that uplink there. */
  private wanOf(i: number): { gw: 'gw' | 'gw2'; wan: string } {
    return this.pair && i > 2 ? { gw: 'gw2', wan: `wan${i - 2}` } : { gw: 'gw', wan: `wan${i}` };
  }

  /** The gateway's link to ISP i (also used to bring a deleted NIC back). */
  private async createWan(i: number): Promise<void> {
    const { gw, wan } = this.wanOf(i);
    await ip(['-n', this.ns(gw), 'link', 'add', wan, 'type', 'veth', 'peer', 'name', 'togw', 'netns', this.ns(`isp${i}`)]);
    await ip(['-n', this.ns(gw), 'addr', 'add', `100.64.${i}.2/24`, 'dev', wan]);
    await ip(['-n', this.ns(gw), 'link', 'set', wan, 'up']);
    await ip(['-n', this.ns(`isp${i}`), 'addr', 'add', `100.64.${i}.1/24`, 'dev', 'togw']);
    await ip(['-n', this.ns(`isp${i}`), 'link', 'set', 'togw', 'up']);
    await this.addr6(gw, `2001:db8:${i}::2/64`, wan);
    await this.addr6(`isp${i}`, `2001:db8:${i}::1/64`, 'togw');
  }

  /** The pair's LAN: a bridge in `sw`, a port each for the two gateways and the LAN host. */
  private async buildSharedLan(): Promise<void> {
    await ip(['-n', this.ns('sw'), 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', this.ns('sw'), 'link', 'set', 'br0', 'up']);
    const ports: [Role, string, string][] = [
      ['gw', 'lan0', '100.64.100.3/24'],
      ['gw2', 'lan0', '100.64.100.4/24'],
      ['lan', 'eth0', '100.64.100.2/24'],
    ];
    for (const [role, dev, address] of ports) {
      await ip(['-n', this.ns('sw'), 'link', 'add', `p-${role}`, 'type', 'veth', 'peer', 'name', dev, 'netns', this.ns(role)]);
      await ip(['-n', this.ns('sw'), 'link', 'set', `p-${role}`, 'master', 'br0', 'up']);
      await ip(['-n', this.ns(role), 'addr', 'add', address, 'dev', dev]);
      await ip(['-n', this.ns(role), 'link', 'set', dev, 'up']);
    }
    await ip(['-n', this.ns('lan'), 'route', 'add', 'default', 'via', '100.64.100.1']);
  }

  /** An IPv6 address without duplicate address detection, usable at once. */
  private async addr6(role: Role, prefix: string, dev: string): Promise<void> {
    await ip(['-n', this.ns(role), '-6', 'addr', 'add', prefix, 'dev', dev, 'nodad']);
  }

  // ---- fault injectors -------------------------------------------------------------

  /**
   * Silently drops everything ISP i forwards (or only one family of it): the gateway's link
   * stays up, the path dies.
   */
  async blackhole(i: number, family?: 4 | 6): Promise<void> {
    await this.heal(i);
    const match = family ? `meta nfproto ipv${family} ` : '';
    await this.nft(`isp${i}`, `table inet fault { chain blk { type filter hook forward priority 0; ${match}drop; }; }`);
  }

  /** Drops `pct` percent of what ISP i forwards from the gateway, at random: `pct`% round-trip loss. */
  async loss(i: number, pct: number): Promise<void> {
    await this.heal(i);
    await this.nft(`isp${i}`, `table inet fault { chain blk { type filter hook forward priority 0; iifname "togw" numgen random mod 100 < ${pct} drop; }; }`);
  }

  /**
   * Hands ICMP echo replies in the internet over to the lab's responder, so latency can be
   * injected; `latency()` sets it per uplink.
   */
  async startResponder(): Promise<void> {
    this.writeFile('delays.json', '{}');
    await this.sysctl('inet', 'net.ipv4.icmp_echo_ignore_all', '1');
    const responder = this.exec('inet', process.execPath, [RESPONDER, join(this.dir, 'delays.json'), '600000'], { reject: false });
    this.processes.add(responder);
    await new Promise<void>((resolveReady, reject) => {
      responder.stdout!.once('data', () => resolveReady());
      responder.once('exit', () => reject(new Error('icmp responder exited early')));
    });
  }

  /**
   * Echo replies to the gateway's address on ISP i come `ms` late, give or take up to
   * `jitterMs` (uniformly at random, never below 0), each on its own (needs startResponder).
   */
  latency(i: number, ms: number, jitterMs = 0): void {
    const file = join(this.dir, 'delays.json');
    const delays = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number | { ms: number; jitter: number }>;
    delays[`100.64.${i}.2`] = jitterMs ? { ms, jitter: jitterMs } : ms;
    writeFileSync(file, JSON.stringify(delays));
  }

  /** Removes a blackhole or loss on ISP i. */
  async heal(i: number): Promise<void> {
    await this.exec(`isp${i}`, 'nft', ['delete', 'table', 'inet', 'fault'], { reject: false });
  }

  /** An operator's `ip link set wanI down|up` on the gateway. */
  async adminState(i: number, up: boolean): Promise<void> {
    await ip(['-n', this.ns('gw'), 'link', 'set', `wan${i}`, up ? 'up' : 'down']);
  }

  /** Carrier lost or back: the ISP side of the link goes down or up. */
  async carrier(i: number, on: boolean): Promise<void> {
    await ip(['-n', this.ns(`isp${i}`), 'link', 'set', 'togw', on ? 'up' : 'down']);
  }

  /** The gateway's NIC to ISP i disappears (a USB modem unplugged, a VM NIC detached). */
  async deleteNic(i: number): Promise<void> {
    await ip(['-n', this.ns('gw'), 'link', 'del', `wan${i}`]);
  }

  async restoreNic(i: number): Promise<void> {
    await this.createWan(i);
  }

  /** One heartbeat target stops answering through ISP i (the rest of the path stays fine). */
  async killTarget(i: number, address: string): Promise<void> {
    await this.nft(`isp${i}`, `table ip deadtarget { chain dead { type filter hook forward priority 0; ip daddr ${address} drop; }; }`);
  }

  async reviveTarget(i: number): Promise<void> {
    await this.exec(`isp${i}`, 'nft', ['delete', 'table', 'ip', 'deadtarget'], { reject: false });
  }

  /** TCP to `port` through ISP i is dropped silently, or refused with a reset (RST). */
  async blockPort(i: number, port: number, how: 'drop' | 'reset'): Promise<void> {
    const verdict = how === 'drop' ? 'drop' : 'reject with tcp reset';
    await this.nft(`isp${i}`, `table inet portblock { chain blk { type filter hook forward priority 0; tcp dport ${port} ${verdict}; }; }`);
  }

  async unblockPort(i: number): Promise<void> {
    await this.exec(`isp${i}`, 'nft', ['delete', 'table', 'inet', 'portblock'], { reject: false });
  }

  /** Runs a lab tool in the internet namespace until the lab goes; resolves once it says ready. */
  private async serve(what: string, tool: string, args: string[]): Promise<void> {
    const server = this.exec('inet', process.execPath, [tool, ...args, '600000'], { reject: false });
    this.processes.add(server);
    await new Promise<void>((resolveReady, reject) => {
      server.stdout!.once('data', () => resolveReady());
      server.once('exit', () => reject(new Error(`${what} exited early`)));
    });
  }

  /** A TCP server in the internet namespace accepting on address:port until the lab goes. */
  async tcpServer(address: string, port: number): Promise<void> {
    await this.serve('tcp server', TRAFFIC, ['listen', address, String(port)]);
  }

  /**
   * `ip monitor route nexthop rule` in the gateway namespace until `stop()`, which resolves
   * with the lines it printed (deletions start with `Deleted`).
   */
  async monitor(): Promise<{ stop: () => Promise<string[]> }> {
    const proc = this.exec('gw', 'ip', ['monitor', 'route', 'nexthop', 'rule'], { reject: false });
    this.processes.add(proc);
    // ip monitor has no "ready" line: give it a moment to subscribe.
    await new Promise((r) => setTimeout(r, 200));
    return {
      stop: async () => {
        proc.kill('SIGTERM');
        const r = await proc;
        this.processes.delete(proc);
        return String(r.stdout).split('\n').filter(Boolean);
      },
    };
  }

  /** A TCP echo server in the internet namespace that greets each flow with its source address. */
  async echoServer(address: string, port: number): Promise<void> {
    await this.serve('echo server', FLOWS, ['echo', address, String(port)]);
  }

  /**
   * `n` long-lived TCP flows from the LAN host to an echo server, each echoing a line every
   * `everyMs` for `durationMs`. `ready` has the address each flow left by (NAT: which uplink).
   */
  holdFlows(address: string, port: number, n: number, durationMs: number, everyMs = 100): HeldFlowsHandle {
    const proc = this.exec('lan', process.execPath, [FLOWS, 'hold', address, String(port), String(n), String(durationMs), String(everyMs)], { reject: false });
    this.processes.add(proc);
    let out = '';
    let pending = '';
    let snapshotWaiter: ((r: HeldFlows) => void) | undefined;
    let readyLine: ((via: string[]) => void) | undefined;
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith('ready ')) readyLine?.((JSON.parse(line.slice(6)) as { via: string[] }).via);
        if (line.startsWith('snapshot ') && snapshotWaiter) {
          const w = snapshotWaiter;
          snapshotWaiter = undefined;
          w(JSON.parse(line.slice(9)) as HeldFlows);
        }
      }
    });
    const ready = new Promise<string[]>((resolveReady, reject) => {
      readyLine = resolveReady;
      proc.once('exit', () => reject(new Error(`flows exited before all were open: ${out.slice(-500)}`)));
    });
    // Never rejects (a lab torn down mid-run kills the tool): a run without a report says so.
    const done = proc.then((r) => {
      this.processes.delete(proc);
      const last = String(r.stdout)
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'));
      return last ? (JSON.parse(last) as HeldFlows) : { durationMs: 0, error: `no report (exit ${r.exitCode ?? r.signal})`, flows: [] };
    });
    const snapshot = (): Promise<HeldFlows> =>
      new Promise((resolveSnap) => {
        snapshotWaiter = resolveSnap;
        proc.kill('SIGUSR1');
      });
    return { ready, done, snapshot };
  }

  /** The echo server's live connections per source address (the NAT address: which uplink). */
  async serverFlows(port: number): Promise<Record<string, number>> {
    const r = await this.exec('inet', process.execPath, [FLOWS, 'stats', String(port + 1)]);
    return JSON.parse(r.stdout) as Record<string, number>;
  }

  /** `n` short TCP flows from the LAN host, one after another: how many left by each address. */
  async probeFlows(address: string, port: number, n: number): Promise<{ via: Record<string, number>; errors: number }> {
    const r = await this.exec('lan', process.execPath, [FLOWS, 'probe', address, String(port), String(n)]);
    return JSON.parse(r.stdout) as { via: Record<string, number>; errors: number };
  }

  // ---- uplinkd and traffic -----------------------------------------------------------

  writeFile(name: string, text: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, text);
    return file;
  }

  /**
   * Starts `uplinkd run` in the gateway namespace; logs are collected as parsed JSON. `cli`: the
   * executable to run (an installed uplinkd), the build's by default.
   */
  startDaemon(configYaml: string, env: Record<string, string> = {}, socketPath?: string, cli = CLI, role: 'gw' | 'gw2' = 'gw'): DaemonHandle {
    const name = role === 'gw' ? 'uplinkd' : `uplinkd-${role}`;
    const config = this.writeFile(`${name}.yaml`, configYaml);
    // `socketPath`: the config's control.socket, so no --socket pins it.
    const socket = socketPath ?? join(this.dir, `${name}.sock`);
    const pin = socketPath ? [] : ['--socket', socket];
    const proc = execa('ip', ['netns', 'exec', this.ns(role), process.execPath, cli, 'run', '--config', config, ...pin], {
      env,
      reject: false,
      buffer: false,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    this.processes.add(proc);
    return new DaemonHandle(this, proc, config, socket, cli, role);
  }

  /** Runs the CLI (in the gateway namespace) and returns its exit code and output. */
  async cli(args: string[], cli = CLI, role: 'gw' | 'gw2' = 'gw') {
    const r = await execa('ip', ['netns', 'exec', this.ns(role), process.execPath, cli, ...args], { reject: false });
    return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * The kernel's routes in `table` of the gateway, as iproute2 prints them in JSON; a route
   * through a nexthop group gets `nexthops` filled in from the group, one per device with
   * the summed weight of its members.
   */
  /** The routes of `table`; none while the table does not exist yet (uplinkd has not written it). */
  async routes(table: number | string, family: 4 | 6 = 4): Promise<IpRoute[]> {
    const out = await ip(['-n', this.ns('gw'), `-${family}`, '-j', 'route', 'show', 'table', String(table)]).catch((e: unknown) => {
      if (/FIB table does not exist/.test(String((e as { stderr?: unknown }).stderr))) return '[]';
      throw e;
    });
    const routes = JSON.parse(out || '[]') as IpRoute[];
    if (!routes.some((r) => r.nhid !== undefined)) return routes;
    const objects = JSON.parse((await ip(['-n', this.ns('gw'), '-j', 'nexthop', 'show'])) || '[]') as IpNexthop[];
    return routes.map((r) => {
      if (r.nhid === undefined) return r;
      const group = objects.find((o) => o.id === r.nhid);
      const members = group?.group ?? (group ? [{ id: group.id, weight: 1 }] : []);
      const byDev = new Map<string, { gateway?: string; weight: number }>();
      for (const m of members) {
        const o = objects.find((x) => x.id === m.id);
        if (!o?.dev) continue;
        const had = byDev.get(o.dev);
        byDev.set(o.dev, { ...(o.gateway ? { gateway: o.gateway } : {}), weight: (had?.weight ?? 0) + (m.weight ?? 1) });
      }
      return { ...r, nexthops: [...byDev].map(([dev, v]) => ({ dev, ...v })) };
    });
  }

  /** `wan1:10 wan2:90`: each device's percent of the default route's weight (0% left out). */
  async shares(table: number | string = 100, family: 4 | 6 = 4): Promise<string> {
    const r = (await this.routes(table, family)).find((x) => x.dst === 'default');
    if (!r) return 'none';
    const hops = r.nexthops ?? [{ dev: r.dev!, weight: 1 }];
    const total = hops.reduce((a, n) => a + (n.weight ?? 1), 0);
    return hops
      .map((n) => ({ dev: n.dev, pct: Math.round(((n.weight ?? 1) * 100) / total) }))
      .filter((x) => x.pct > 0)
      .sort((a, b) => a.dev.localeCompare(b.dev))
      .map((x) => `${x.dev}:${x.pct}`)
      .join(' ');
  }

  /** Interfaces the default route of `table` leaves through (sorted). */
  async defaultVia(table: number | string = 100, family: 4 | 6 = 4): Promise<string[]> {
    const r = (await this.routes(table, family)).find((x) => x.dst === 'default');
    if (!r) return [];
    if (r.nexthops) return r.nexthops.map((n) => n.dev).sort();
    return r.dev ? [r.dev] : [];
  }

  /**
   * A bounded UDP stream from the LAN host to the sink: `count` packets, one every
   * `intervalMs`. Resolves when the sink has seen the last packet or `count*interval+2s` passed.
   */
  async stream(count: number, intervalMs: number): Promise<StreamResult> {
    const durationMs = count * intervalMs + 2000;
    const sink = this.exec('inet', process.execPath, [TRAFFIC, 'sink', SINK, String(SINK_PORT), String(durationMs)]);
    this.processes.add(sink);
    // The sink prints "ready" once bound; only then does the sender start.
    await new Promise<void>((resolveReady, reject) => {
      sink.stdout!.once('data', () => resolveReady());
      sink.once('exit', () => reject(new Error('traffic sink exited early')));
    });
    const send = this.exec('lan', process.execPath, [TRAFFIC, 'send', SINK, String(SINK_PORT), String(count), String(intervalMs)]);
    this.processes.add(send);
    const [s] = await Promise.all([sink, send]);
    this.processes.delete(sink);
    this.processes.delete(send);
    const lines = s.stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1]!) as StreamResult;
  }

  /**
   * A bounded two-way UDP flow from the LAN host: `count` packets, one every `intervalMs`, to
   * an echo server on the sink address, which sends each one back. Resolves when the sender
   * has reported, 1 s after its last packet; a packet counts as lost if its echo never came.
   */
  async echoStream(count: number, intervalMs: number): Promise<EchoStreamResult> {
    const durationMs = count * intervalMs + 3000;
    const echo = this.exec('inet', process.execPath, [TRAFFIC, 'echo', SINK, String(ECHO_PORT), String(durationMs)], { reject: false });
    this.processes.add(echo);
    try {
      // The echo server prints "ready" once bound; only then does the sender start.
      await new Promise<void>((resolveReady, reject) => {
        echo.stdout!.once('data', () => resolveReady());
        echo.once('exit', () => reject(new Error('traffic echo server exited early')));
      });
      const ping = this.exec('lan', process.execPath, [TRAFFIC, 'ping', SINK, String(ECHO_PORT), String(count), String(intervalMs)]);
      this.processes.add(ping);
      const p = await ping.finally(() => this.processes.delete(ping));
      const lines = p.stdout.trim().split('\n');
      return JSON.parse(lines[lines.length - 1]!) as EchoStreamResult;
    } finally {
      echo.kill('SIGTERM');
      await echo;
      this.processes.delete(echo);
    }
  }

  /** A process the test started in the lab: killed with the lab if still running. */
  adopt(proc: ResultPromise): void {
    this.processes.add(proc);
    void proc.finally(() => this.processes.delete(proc)).catch(() => undefined);
  }

  async destroy(): Promise<void> {
    this.destroySync();
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.processes) p.kill('SIGKILL');
    destroyNamespaces(labNamespaces(this.prefix));
    // LAB_KEEP=1 keeps the files (logs of the lab's servers and clients) for a look after a failure.
    if (!process.env.LAB_KEEP) rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}

export interface IpNexthop {
  id: number;
  group?: { id: number; weight?: number }[];
  gateway?: string;
  dev?: string;
}

export interface IpRoute {
  dst: string;
  nhid?: number;
  gateway?: string;
  dev?: string;
  protocol?: string;
  nexthops?: { gateway?: string; dev: string; weight?: number }[];
}

export interface HeldFlowsHandle {
  /** The address each flow left by (the NAT address: which uplink), once all are open. */
  readonly ready: Promise<string[]>;
  /** The report at the end. */
  readonly done: Promise<HeldFlows>;
  /** A report so far; the flows go on. */
  snapshot(): Promise<HeldFlows>;
}

export interface HeldFlows {
  durationMs: number;
  error?: string;
  flows: { via: string; sent: number; echoed: number; longestWaitMs: number; error?: string }[];
}

export interface StreamResult {
  sent?: number;
  received: number;
  /** Longest span of send times of packets the network lost (sender and sink stalls excluded). */
  longestOutageMs: number;
  /** Longest time between two packets arriving at the sink. */
  longestGapMs: number;
  /** When (ms after the first packet) the longest gap began. */
  longestGapAtMs: number;
  /** Packets that arrived after the longest gap. */
  receivedAfterGap: number;
}

export interface EchoStreamResult {
  sent: number;
  /** Packets whose echo came back (each counted once). */
  echoed: number;
  /**
   * Longest span of send times around a run of packets whose echo never came, between the
   * echoed packets on either side (as StreamResult's); a run at the very start or end has no
   * such span and shows only in `lostSpans` and `sent - echoed`.
   */
  longestOutageMs: number;
  /** Runs of packets whose echo never came, those at the start or end included. */
  lostSpans: number;
}

export interface LogLine {
  level: number;
  msg: string;
  event?: string;
  uplink?: string;
  from?: string;
  to?: string;
  reason?: string;
  command?: string;
  [key: string]: unknown;
}

/** Calls `fn` with each whole line a child process writes. */
export function eachLine(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      fn(line);
    }
  });
}

/** A running `uplinkd run` inside the lab, with its JSON log lines. */
export class DaemonHandle {
  readonly logs: LogLine[] = [];
  stderr = '';
  private waiters: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(
    private readonly lab: Lab,
    readonly proc: ResultPromise,
    readonly configPath: string,
    public socket: string,
    readonly cli = CLI,
    readonly role: 'gw' | 'gw2' = 'gw',
  ) {
    eachLine(proc.stdout!, (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      this.logs.push(parsed);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(parsed)) return true;
        w.resolve(parsed);
        return false;
      });
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** Resolves with the first log line (already seen or coming) that passes `test`. */
  waitFor(test: (l: LogLine) => boolean, timeoutMs: number, what = 'a log line', fromIndex = 0): Promise<LogLine> {
    const seen = this.logs.slice(fromIndex).find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolveLine, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}; ${this.describeTrouble()}`));
      }, timeoutMs);
      const done = (l: LogLine): void => {
        clearTimeout(timer);
        resolveLine(l);
      };
      this.waiters.push({ test, resolve: done });
    });
  }

  /** Waits for an uplink to reach a state, counting only log lines after `after`. */
  waitState(uplink: string, to: string, timeoutMs: number, fromIndex = 0): Promise<LogLine> {
    return this.waitFor((l) => l.event === 'state' && l.uplink === uplink && l.to === to, timeoutMs, `${uplink} -> ${to}`, fromIndex);
  }

  /** Errors the daemon logged and whether it is still running, for failure messages. */
  describeTrouble(): string {
    const errors = this.logs
      .filter((l) => l.level >= 50)
      .slice(-3)
      .map((l) => JSON.stringify(l));
    const exit = this.proc.exitCode === null ? 'running' : `exited with ${this.proc.exitCode}`;
    return `uplinkd ${exit}; errors: ${errors.join(' | ') || 'none'}; stderr: ${this.stderr.slice(-500)}`;
  }

  stateChanges(uplink?: string): LogLine[] {
    return this.logs.filter((l) => l.event === 'state' && (!uplink || l.uplink === uplink));
  }

  async status(): Promise<{ code: number; json: unknown; stderr: string }> {
    const r = await this.lab.cli(['status', '--json', '--socket', this.socket], this.cli, this.role);
    if (r.code !== 0) throw new Error(`uplinkd status exited ${r.code}: ${r.stderr}; ${this.describeTrouble()}`);
    return { code: r.code, json: JSON.parse(r.stdout) as unknown, stderr: r.stderr };
  }

  /** Open file descriptors and resident memory (kB) of the daemon process. */
  resources(): { fds: number; rssKb: number } {
    const pid = this.proc.pid!;
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    return { fds, rssKb };
  }

  /** SIGTERM, then the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    this.proc.kill(signal);
    const r = await this.proc;
    // Ended by a signal (a crash; SIGKILL: execa's, 5 s after a SIGTERM that was not acted on): which, and its last words.
    if (r.exitCode === undefined)
      process.stderr.write(
        `uplinkd ended by ${r.signal ?? 'an unknown cause'}; stderr: ${this.stderr.slice(-2000)}; last log lines:\n${this.logs
          .slice(-8)
          .map((l) => JSON.stringify(l))
          .join('\n')}\n`,
      );
    return r.exitCode ?? -1;
  }
}
