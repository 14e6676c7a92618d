// daemon/: the sysctls a config wants at 1 (track/'s wantedSysctls), each change logged as the
// command a person would have typed.
import type { Logger } from 'pino';
import type { Sysctl } from '../host/index.js';
import { errText } from './ports.js';

export async function setSysctls(sysctl: Sysctl, keys: readonly string[], log: Logger): Promise<void> {
  for (const key of keys) {
    try {
      const now = await sysctl.read(key);
      if (now === undefined || now === '1') continue;
      await sysctl.write(key, '1');
      log.info({ event: 'sysctl', command: `sysctl -w ${key}=1`, was: now }, `sysctl -w ${key}=1 (was ${now})`);
    } catch (err) {
      log.error({ event: 'sysctl', key, err: errText(err) }, `cannot set ${key}=1: ${errText(err)}`);
    }
  }
}
