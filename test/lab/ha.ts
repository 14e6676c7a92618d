// An HA pair in the lab (issue 12): two gateways on one LAN (Lab with `pair`), each running
// uplinkd with two uplinks and keepalived, which moves the LAN's gateway address 100.64.100.1
// between them by VRRP. keepalived tracks `uplinkd check` (every second, two failures) and a
// file that uplinkd's hooks write at once: 1 on all-down, 0 when an uplink carries again.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { labConfig } from './config.js';
import { CLI, type DaemonHandle, Lab } from './lab.js';
import { waitUntil } from './wait.js';

export const VIP = '100.64.100.1';
/** The address a gateway's first uplink NATs to (ISP 1 for gw, ISP 3 for gw2): which gateway a LAN flow left by. */
export const natAddress = (lab: Lab, gw: Gateway): string => lab.isps[gw === 'gw' ? 0 : 2]!.wanAddress;

type Gateway = 'gw' | 'gw2';

/** uplinkd's config on a gateway: the lab's, with gw2's ISPs 3 and 4, and the track-file hooks. */
export function pairConfig(lab: Lab, gw: Gateway): string {
  const base = gw === 'gw' ? labConfig() : labConfig().replace('100.64.1.1', '100.64.3.1').replace('100.64.2.1', '100.64.4.1');
  const track = trackFile(lab, gw);
  return `${base}hooks:
  - run: [/bin/sh, -c, '[ "$UPLINKD_FAMILY" = ipv4 ] || exit 0; echo 1 > ${track}']
    events: [all-down]
    timeout: 2s
  - run: [/bin/sh, -c, '[ "$UPLINKD_FAMILY" = ipv4 ] || exit 0; echo 0 > ${track}']
    events: [steering, failover, failback-step, failback-done]
    timeout: 2s
`;
}

const trackFile = (lab: Lab, gw: Gateway): string => join(lab.dir, `${gw}.track`);

/** keepalived.conf for one gateway: the README's snippet, with the lab's paths. */
export function keepalivedConfig(lab: Lab, gw: Gateway, priority: number, socket: string): string {
  return `global_defs {
  router_id ${gw}
  script_user root
}
vrrp_script uplinkd_check {
  script "${process.execPath} ${CLI} check --socket ${socket}"
  interval 1
  timeout 2
  fall 3
  rise 2
}
vrrp_track_file uplinkd_hooks {
  file "${trackFile(lab, gw)}"
}
vrrp_instance lan {
  state BACKUP
  interface lan0
  virtual_router_id 51
  priority ${priority}
  advert_int 1
  virtual_ipaddress {
    ${VIP}/24
  }
  track_script {
    uplinkd_check
  }
  track_file {
    uplinkd_hooks weight 0
  }
}
`;
}

export interface Pair {
  readonly lab: Lab;
  readonly daemons: Record<Gateway, DaemonHandle>;
  /** The gateway that holds the LAN's address now, if one does. */
  holder(): Promise<Gateway | undefined>;
  destroy(): Promise<void>;
}

/** Builds the pair and waits until both uplinkds are settled and `gw` (priority 150) holds the address. */
export async function startPair(): Promise<Pair> {
  const lab = await Lab.create({ pair: true });
  const keepalived: ResultPromise[] = [];
  const daemons = {} as Record<Gateway, DaemonHandle>;
  const holder = async (): Promise<Gateway | undefined> => {
    for (const gw of ['gw', 'gw2'] as const) {
      const r = await lab.exec(gw, 'ip', ['-4', 'addr', 'show', 'dev', 'lan0']);
      if (r.stdout.includes(`inet ${VIP}/`)) return gw;
    }
    return undefined;
  };
  const destroy = async (): Promise<void> => {
    for (const k of keepalived) k.kill('SIGKILL');
    for (const d of Object.values(daemons)) await d.stop().catch(() => undefined);
    await lab.destroy();
  };
  try {
    for (const [gw, priority] of [
      ['gw', 150],
      ['gw2', 100],
    ] as const) {
      writeFileSync(trackFile(lab, gw), '0\n');
      daemons[gw] = lab.startDaemon(pairConfig(lab, gw), {}, undefined, CLI, gw);
      await daemons[gw].waitState('fiber', 'up', 20_000);
      await daemons[gw].waitState('dsl', 'up', 20_000);
      const conf = lab.writeFile(`keepalived-${gw}.conf`, keepalivedConfig(lab, gw, priority, daemons[gw].socket));
      const pid = (name: string) => join(lab.dir, `keepalived-${gw}.${name}.pid`);
      const k = lab.exec(
        gw,
        'keepalived',
        ['--vrrp', '--dont-fork', '--log-console', '-f', conf, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('checkers')],
        {
          reject: false,
        },
      );
      keepalived.push(k);
    }
    await waitUntil(async () => (await holder()) === 'gw', 20_000, `gw holds ${VIP}`);
  } catch (err) {
    await destroy();
    throw err;
  }
  return { lab, daemons, holder, destroy };
}
