// Reads a config file and parses it; the one place config/ touches the filesystem.
import { readFile } from 'node:fs/promises';
import type { Config } from '../types/index.js';
import { parseConfig } from './parse.js';
import { ConfigError } from './problems.js';
import { readRtTables } from './tables.js';

/** The validated config in `file`, or a ConfigError listing every problem. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new ConfigError(file, [{ code: 'BAD_VALUE', message: `cannot read the file (${code})`, line: 1, col: 1 }]);
  }
  const result = parseConfig(text, { tableNames: readRtTables() });
  if (!result.ok) throw new ConfigError(file, result.problems);
  return result.config;
}
