// host/: kernel settings under /proc/sys (per network namespace), read and written as files.
import { readFile, writeFile } from 'node:fs/promises';

export interface Sysctl {
  /** The value, trimmed; undefined when the key does not exist (IPv6 disabled, say). */
  read(key: string): Promise<string | undefined>;
  write(key: string, value: string): Promise<void>;
}

/** `net.ipv4.ip_forward`, or with slashes when a part holds a dot (an interface `eth0.100`), as sysctl(8) takes both. */
function path(key: string): string {
  return `/proc/sys/${key.includes('/') ? key : key.replaceAll('.', '/')}`;
}

export class ProcSysctl implements Sysctl {
  async read(key: string): Promise<string | undefined> {
    try {
      return (await readFile(path(key), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
  async write(key: string, value: string): Promise<void> {
    await writeFile(path(key), `${value}\n`);
  }
}

export class FakeSysctl implements Sysctl {
  readonly values = new Map<string, string>();
  async read(key: string): Promise<string | undefined> {
    return this.values.get(key);
  }
  async write(key: string, value: string): Promise<void> {
    this.values.set(key, value);
  }
}
