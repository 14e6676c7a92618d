// rt_tables names, read the way iproute2 reads them, for `routing.table: NAME`.
import { readFileSync, readdirSync } from 'node:fs';

const FILES = ['/etc/iproute2/rt_tables', '/usr/share/iproute2/rt_tables', '/usr/lib/iproute2/rt_tables'];
const DIRS = ['/etc/iproute2/rt_tables.d', '/usr/share/iproute2/rt_tables.d'];

export function parseRtTables(text: string, into = new Map<string, number>()): Map<string, number> {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^(0x[0-9a-f]+|\d+)\s+(\S+)$/i.exec(line);
    if (m && !into.has(m[2]!)) into.set(m[2]!, Number(m[1]));
  }
  return into;
}

export function readRtTables(): Map<string, number> {
  const names = new Map<string, number>();
  const read = (file: string): void => {
    try {
      parseRtTables(readFileSync(file, 'utf8'), names);
    } catch {
      // A missing file is normal: distributions keep it in different places.
    }
  };
  FILES.forEach(read);
  for (const dir of DIRS) {
    try {
      for (const f of readdirSync(dir)) if (f.endsWith('.conf')) read(`${dir}/${f}`);
    } catch {
      // no such directory
    }
  }
  return names;
}

export interface ParseOptions {
  /** rt_tables names -> ids, for `routing.table: NAME`. */
  readonly tableNames?: ReadonlyMap<string, number>;
}
