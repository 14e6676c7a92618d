// daemon/: where operator overrides (`uplinkd drain|prefer`) outlive a restart: a JSON file
// beside the control socket (`/run/uplinkd/uplinkd.overrides.json`), written whole and renamed
// into place, so a crash never leaves half of it. /run is emptied at boot: overrides last until
// `resume` or a reboot.
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Override } from '../track/index.js';

export interface OverrideStore {
  /** Empty when there is no file; throws with the reason when it cannot be read or makes no sense. */
  load(): Promise<ReadonlyMap<string, Override>>;
  save(overrides: Readonly<Record<string, Override>>): Promise<void>;
}

/** `/run/uplinkd/uplinkd.sock` -> `/run/uplinkd/uplinkd.overrides.json`. */
export const overridesPathFor = (socket: string): string => `${socket.replace(/\.sock$/, '')}.overrides.json`;

/** The file's entries that are overrides; anything else in it is not trusted. */
export function parseOverrides(text: string): Map<string, Override> {
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
  const out = new Map<string, Override>();
  for (const [name, o] of Object.entries(value as Record<string, unknown>)) {
    const { kind, by, since } = (o ?? {}) as Record<string, unknown>;
    if ((kind !== 'drain' && kind !== 'prefer') || typeof by !== 'string' || typeof since !== 'string')
      throw new Error(`entry "${name.slice(0, 40)}" is not an override`);
    out.set(name, { kind, by: by.slice(0, 100), since: since.slice(0, 40) });
  }
  return out;
}

export function fileOverrideStore(path: string): OverrideStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
        throw err;
      }
      return parseOverrides(text);
    },
    async save(overrides) {
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(overrides, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, path);
    },
  };
}
