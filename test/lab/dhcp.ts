// Lab: the real parts that hand a gateway its next hop, each inside the lab's namespaces with
// its files in the lab's directory (never the root /etc): dnsmasq as an ISP's DHCP server,
// udhcpc or dhclient as the gateway's client with a script that sets the address and
// `default via ROUTER dev IF proto dhcp metric N` in main (and nothing else), radvd as an
// ISP's IPv6 router. Each client script stamps the time right after its route change, so a
// test can measure how long uplinkd took to follow.
import { execa, type ResultPromise } from 'execa';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Lab, type Role, TARGETS } from './lab.js';
import { waitUntil } from './wait.js';

/** A process started in the lab, stopped with `stop` (and killed with the lab otherwise). */
export interface LabProcess {
  readonly pid: () => number | undefined;
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<void>;
}

let spawned = 0;

/** Its output goes to a file in the lab's directory (`CMD-N.log`), for a failing test to show. */
function spawnIn(lab: Lab, role: Role, cmd: string, args: string[]): LabProcess {
  const log = join(lab.dir, `${cmd}-${++spawned}.log`);
  const proc: ResultPromise = execa('ip', ['netns', 'exec', lab.ns(role), cmd, ...args], {
    reject: false,
    stdin: 'ignore',
    stdout: { file: log },
    stderr: { file: log },
  });
  lab.adopt(proc);
  return {
    pid: () => proc.pid,
    signal: (sig) => {
      proc.kill(sig);
    },
    stop: async () => {
      proc.kill('SIGTERM');
      await proc;
    },
  };
}

/** The times a client script stamped, by what it did: `route 100.64.2.1`, `deconfig`. */
export interface ClientStamps {
  readonly file: string;
  read(): { atMs: number; what: string }[];
  /** The last stamp whose text starts with `what`, waited for. */
  waitFor(what: string, timeoutMs: number, after?: number): Promise<number>;
}

function stamps(file: string): ClientStamps {
  writeFileSync(file, '');
  const read = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [at, ...rest] = l.split(' ');
        return { atMs: Number(at), what: rest.join(' ') };
      });
  return {
    file,
    read,
    async waitFor(what, timeoutMs, after = 0) {
      let found: number | undefined;
      await waitUntil(
        async () => {
          found = read()
            .filter((s) => s.what.startsWith(what) && s.atMs >= after)
            .at(-1)?.atMs;
          return found !== undefined;
        },
        timeoutMs,
        `client stamp "${what}"`,
      );
      return found!;
    },
  };
}

/**
 * The client's script: on a lease, the new address goes in before the old one goes (as networkd
 * and dhcpcd do), then `ip route replace default via ROUTER dev IF proto dhcp metric N`; on
 * deconfig, that route and the addresses go. Shared by udhcpc ($1, $ip, $mask, $router) and
 * dhclient ($reason, $new_ip_address, ...), each calling it with what it was told.
 */
function clientScript(lab: Lab, name: string, metric: number, stampFile: string): string {
  const path = join(lab.dir, `${name}.sh`);
  writeFileSync(
    path,
    `#!/bin/sh
# The lab's DHCP client script: the address, and the default route in main; nothing else.
set_lease() { # IFACE ADDRESS/LEN ROUTER
  ip addr replace "$2" dev "$1"
  for a in $(ip -4 -o addr show dev "$1" | awk '{print $4}'); do [ "$a" = "$2" ] || ip addr del "$a" dev "$1"; done
  ip route replace default via "$3" dev "$1" proto dhcp metric ${metric}
  echo "$(date +%s%3N) route $3" >> ${stampFile}
}
drop_lease() { # IFACE
  ip route del default dev "$1" proto dhcp metric ${metric} 2>/dev/null && echo "$(date +%s%3N) deconfig" >> ${stampFile}
  ip -4 addr flush dev "$1"
}
case "$1" in
  deconfig) drop_lease "$interface" ;;
  bound|renew) set -- $router; set_lease "$interface" "$ip/$mask" "$1" ;;
esac
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) set -- $new_routers; set_lease "$interface" "$new_ip_address/$(echo "$new_subnet_mask" | awk -F. '{n=0; for(i=1;i<=4;i++){x=$i; while(x){n+=x%2; x=int(x/2)}} print n}')" "$1" ;;
  EXPIRE|FAIL|RELEASE|STOP) drop_lease "$interface" ;;
esac
exit 0
`,
  );
  chmodSync(path, 0o755);
  return path;
}

/**
 * ISP `isp` as a DHCP ISP: it answers DHCP from 100.64.I.253 and routes through 100.64.I.1, an
 * address it can take away (or add another beside) without losing the server's; the gateway's
 * link to it has no IPv4 until a lease.
 */
export async function dhcpIsp(lab: Lab, isp: number): Promise<void> {
  const role = `isp${isp}` as Role;
  await lab.exec(role, 'sysctl', ['-qw', 'net.ipv4.conf.togw.promote_secondaries=1']);
  await lab.exec(role, 'ip', ['-4', 'addr', 'flush', 'dev', 'togw']);
  await lab.exec(role, 'ip', ['addr', 'add', `100.64.${isp}.253/24`, 'dev', 'togw']);
  await lab.exec(role, 'ip', ['addr', 'add', `100.64.${isp}.1/24`, 'dev', 'togw']);
  await lab.exec('gw', 'ip', ['-4', 'addr', 'flush', 'dev', lab.isps[isp - 1]!.wan]);
}

export interface DhcpServer {
  /** Hands out `router` from the next lease or renewal on (dnsmasq re-reads its options file on SIGHUP). */
  setRouter(router: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * dnsmasq on ISP `isp`'s side of the gateway's link (`togw`), handing out `range` with `router`.
 * No DNS (port 0); leases of 2 minutes, dnsmasq's shortest.
 */
export async function dhcpServer(lab: Lab, isp: number, range: [string, string], router: string): Promise<DhcpServer> {
  const role = `isp${isp}` as Role;
  const dir = lab.dir;
  const opts = join(dir, `dnsmasq-isp${isp}.opts`);
  writeFileSync(opts, `option:router,${router}\n`);
  const pidFile = join(dir, `dnsmasq-isp${isp}.pid`);
  const p = spawnIn(lab, role, 'dnsmasq', [
    '--keep-in-foreground',
    '--log-facility=-',
    '--log-dhcp',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--port=0',
    '--user=root',
    '--interface=togw',
    '--bind-interfaces',
    `--dhcp-range=${range[0]},${range[1]},255.255.255.0,2m`,
    `--dhcp-optsfile=${opts}`,
    `--dhcp-leasefile=${join(dir, `dnsmasq-isp${isp}.leases`)}`,
    `--pid-file=${pidFile}`,
    '--dhcp-authoritative',
  ]);
  await waitUntil(async () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 5000, 'dnsmasq started');
  return {
    async setRouter(r) {
      writeFileSync(opts, `option:router,${r}\n`);
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGHUP');
      // dnsmasq reads the file in its event loop: give it the moment it needs.
      await new Promise((res) => setTimeout(res, 200));
    },
    stop: () => p.stop(),
  };
}

export interface DhcpClient extends LabProcess {
  readonly stamps: ClientStamps;
}

/** udhcpc on the gateway's `iface`, in the foreground, retrying every second. SIGUSR1 renews, SIGUSR2 releases (deconfig). */
export function udhcpc(lab: Lab, iface: string, metric: number): DhcpClient {
  const st = stamps(join(lab.dir, `udhcpc-${iface}.stamps`));
  const script = clientScript(lab, `udhcpc-${iface}`, metric, st.file);
  const p = spawnIn(lab, 'gw', 'udhcpc', ['-f', '-i', iface, '-s', script, '-t', '0', '-T', '1', '-A', '1']);
  return { ...p, stamps: st };
}

/** ISC dhclient on the gateway's `iface`, in the foreground, with the same script. */
export function dhclient(lab: Lab, iface: string, metric: number): DhcpClient {
  const st = stamps(join(lab.dir, `dhclient-${iface}.stamps`));
  const script = clientScript(lab, `dhclient-${iface}`, metric, st.file);
  const p = spawnIn(lab, 'gw', 'dhclient', [
    '-d',
    '-4',
    '-sf',
    script,
    '-lf',
    join(lab.dir, `dhclient-${iface}.leases`),
    '-pf',
    join(lab.dir, `dhclient-${iface}.pid`),
    iface,
  ]);
  return { ...p, stamps: st };
}

/**
 * radvd on ISP `isp`'s `iface`: router advertisements every 3 to 4 s (radvd's shortest) with `prefix`
 * (autonomous) and a router lifetime of 30 s. On SIGTERM radvd says goodbye with a lifetime
 * of 0, and the gateway's kernel deletes its default route via this router at once.
 */
export async function radvd(lab: Lab, isp: number, iface: string, prefix: string): Promise<LabProcess> {
  const role = `isp${isp}` as Role;
  const conf = join(lab.dir, `radvd-isp${isp}-${iface}.conf`);
  writeFileSync(
    conf,
    `interface ${iface} {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvDefaultLifetime 30;
  prefix ${prefix} { AdvOnLink on; AdvAutonomous on; };
};
`,
  );
  const pidFile = join(lab.dir, `radvd-isp${isp}-${iface}.pid`);
  return spawnIn(lab, role, 'radvd', ['--nodaemon', '-C', conf, '-p', pidFile, '-u', 'root']);
}

/** Timestamps of route changes in the gateway's namespace, from `ip -ts monitor route`. */
export function routeMonitor(lab: Lab): { lines: () => { atMs: number; text: string }[]; stop: () => Promise<void> } {
  const out: { atMs: number; text: string }[] = [];
  const proc = execa('ip', ['-n', lab.ns('gw'), '-ts', 'monitor', 'route'], { reject: false, buffer: false, stdout: 'pipe' });
  lab.adopt(proc);
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      // `[2026-12-05T13:20:01.123456] Deleted default via ...`
      const m = /^\[([^\]]+)\]\s*(.*)$/.exec(line);
      if (m) out.push({ atMs: Date.parse(m[1]!.replace(/(\.\d{3})\d*/, '$1')), text: m[2]! });
    }
  });
  return {
    lines: () => out,
    stop: async () => {
      proc.kill('SIGTERM');
      await proc;
    },
  };
}

export async function gwSysctl(lab: Lab, key: string, value: string): Promise<void> {
  await execa('ip', ['netns', 'exec', lab.ns('gw'), 'sysctl', '-qw', `${key}=${value}`]);
}

/** fiber (wan1, static) and lte (wan2, `gateway: auto` unless told a static one), each probed at the defaults. */
export function fiberAndLte(ltePriority: number, table = '100', lteGateway = 'auto'): string {
  return `uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    priority: 1
    targets: [ { icmp: ${TARGETS[0]} }, { icmp: ${TARGETS[1]} } ]
  - name: lte
    interface: wan2
    gateway: ${lteGateway}
    priority: ${ltePriority}
    targets: [ { icmp: ${TARGETS[0]} }, { icmp: ${TARGETS[1]} } ]
routing: { table: ${table} }
`;
}
