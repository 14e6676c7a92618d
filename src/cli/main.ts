#!/usr/bin/env node
// cli/: the `uplinkd` executable: run, validate, status, reload (src/README.md §2).
import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET, formatProblem, parseConfig, readConfigFile } from '../config/index.js';
import { readRtTables } from '../config/tables.js';
import { ControlAccessError, NoDaemonError, request, type Response } from '../control/protocol.js';
import { renderStatus } from './render.js';

const USAGE = `usage:
  uplinkd run --config FILE [--socket PATH]   run the daemon in the foreground
  uplinkd validate FILE                       check a config file
  uplinkd status [--json] [--socket PATH]     show the daemon's state
  uplinkd reload [--socket PATH]              re-read the config (as SIGHUP)
exit codes: 0 ok, 1 invalid or failed, 2 usage, 3 no daemon answers`;

export const EXIT = { OK: 0, FAIL: 1, USAGE: 2, NO_DAEMON: 3 } as const;

function usage(message?: string): number {
  if (message) process.stderr.write(`uplinkd: ${message}\n`);
  process.stderr.write(`${USAGE}\n`);
  return EXIT.USAGE;
}

async function validate(file: string): Promise<number> {
  let text: string;
  try {
    text = await readConfigFile(file);
  } catch (err) {
    process.stderr.write(`${file}:1:1: BAD_VALUE: ${(err as Error).message}\n`);
    return EXIT.FAIL;
  }
  const result = parseConfig(text, { tableNames: readRtTables() });
  if (result.ok) {
    process.stdout.write(`${file}: valid (${result.config.uplinks.length} uplinks)\n`);
    return EXIT.OK;
  }
  for (const p of result.problems) process.stderr.write(`${formatProblem(file, p)}\n`);
  return EXIT.FAIL;
}

async function ask(socket: string, cmd: 'status' | 'reload'): Promise<Response | number> {
  try {
    return await request(socket, { cmd });
  } catch (err) {
    if (err instanceof NoDaemonError) {
      process.stderr.write(`uplinkd: ${err.message}\n`);
      return EXIT.NO_DAEMON;
    }
    if (err instanceof ControlAccessError) {
      process.stderr.write(`uplinkd: ${err.message}\n`);
      return EXIT.FAIL;
    }
    throw err;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const config = {
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      socket: { type: 'string', short: 's' },
      json: { type: 'boolean' },
    },
  } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  const socket = values.socket ?? DEFAULT_SOCKET;
  switch (command) {
    case 'run': {
      if (!values.config) return usage('run needs --config FILE');
      const { run } = await import('../daemon/run.js');
      return run({ configPath: values.config, ...(values.socket ? { socket: values.socket } : {}) });
    }
    case 'validate': {
      const file = positionals[0] ?? values.config;
      if (!file) return usage('validate needs a FILE');
      return validate(file);
    }
    case 'status': {
      const res = await ask(socket, 'status');
      if (typeof res === 'number') return res;
      if (!res.ok || !('status' in res)) {
        process.stderr.write(`uplinkd: ${res.ok ? 'unexpected answer' : res.error}\n`);
        return EXIT.FAIL;
      }
      process.stdout.write(values.json ? `${JSON.stringify(res.status, null, 2)}\n` : `${renderStatus(res.status)}\n`);
      return EXIT.OK;
    }
    case 'reload': {
      const res = await ask(socket, 'reload');
      if (typeof res === 'number') return res;
      if (!res.ok) {
        process.stderr.write(`uplinkd: reload rejected: ${res.error}\n`);
        for (const p of res.problems ?? []) process.stderr.write(`${p}\n`);
        return EXIT.FAIL;
      }
      process.stdout.write(`reloaded${'changes' in res && res.changes.length ? `: ${res.changes.join(', ')}` : ''}\n`);
      return EXIT.OK;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? EXIT.USAGE : EXIT.OK;
    default:
      return usage(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`uplinkd: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
