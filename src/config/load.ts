// Reads a config file and parses it. The file is read only when it is a regular file of sane
// size, opened without blocking (a FIFO would wait for a writer, tying up a libuv worker),
// and one read at a time with a deadline: a hung mount costs one worker thread, not all four.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Config } from '../types/index.js';
import { parseConfig } from './parse.js';
import { ConfigError } from './problems.js';
import { readRtTables } from './tables.js';

/** A config is a few kilobytes; a megabyte is a mistake (or /dev/zero). */
export const MAX_CONFIG_BYTES = 1 << 20;
export const READ_DEADLINE_MS = 5000;

let inFlight: Promise<unknown> | undefined;

async function readRegular(file: string): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`not a regular file (${st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : 'a device or socket'})`);
    if (st.size > MAX_CONFIG_BYTES) throw new Error(`${st.size} bytes; a config has at most ${MAX_CONFIG_BYTES}`);
    const text = await fh.readFile('utf8');
    if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new Error(`more than ${MAX_CONFIG_BYTES} bytes`);
    return text;
  } finally {
    await fh.close();
  }
}

/** The file's text, or an Error that says in words why it cannot be read. */
export async function readConfigFile(file: string): Promise<string> {
  if (inFlight) throw new Error('the previous read of a config file has not finished (a hung mount?)');
  const read = readRegular(file);
  inFlight = read.catch(() => undefined).finally(() => (inFlight = undefined));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the filesystem in ${READ_DEADLINE_MS} ms`)), READ_DEADLINE_MS);
  });
  try {
    return await Promise.race([read, deadline]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code ? `cannot read the file (${e.code})` : `cannot read the file: ${e.message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The validated config in `file`, or a ConfigError listing every problem. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readConfigFile(file);
  } catch (err) {
    throw new ConfigError(file, [{ code: 'BAD_VALUE', message: (err as Error).message, line: 1, col: 1 }]);
  }
  const result = parseConfig(text, { tableNames: readRtTables() });
  if (!result.ok) throw new ConfigError(file, result.problems);
  return result.config;
}
