#!/usr/bin/env node
// cli/: the `uplinkd` executable (src/README.md §2). Every subcommand, its options and its help
// come from one table, COMMANDS, so `uplinkd help`, `uplinkd CMD --help` and the parser agree.
import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET, formatProblem, parseConfig, readConfigFile } from '../config/index.js';
import { readRtTables } from '../config/tables.js';
import { ControlAccessError, NoDaemonError, type Request, request, type Response } from '../control/protocol.js';
import type { StatusReport } from '../types/status.js';
import { renderStatus } from './render.js';
import { VERSION } from './version.js';

export const EXIT = { OK: 0, FAIL: 1, USAGE: 2, NO_DAEMON: 3 } as const;

interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** The value's name in help (string options). */
  readonly arg?: string;
  readonly help: string;
}

type Values = Record<string, string | boolean | undefined>;

interface Command {
  readonly args?: string;
  readonly summary: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly run: (values: Values, positionals: string[]) => Promise<number>;
}

const SOCKET: OptionSpec = {
  type: 'string',
  short: 's',
  arg: 'PATH',
  help: `the daemon's control socket (default ${DEFAULT_SOCKET}; the daemon's is control.socket)`,
};
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const COMMANDS: Readonly<Record<string, Command>> = {
  run: {
    summary: 'run the daemon in the foreground (systemd runs it so); exit 0 on SIGTERM, 1 on a fatal error',
    options: {
      config: { type: 'string', short: 'c', arg: 'FILE', help: 'the config file (required)' },
      socket: SOCKET,
      'log-level': { type: 'string', arg: 'LEVEL', help: `the lowest level logged: ${LOG_LEVELS.join(', ')} (default info)` },
    },
    run: async (v) => {
      if (typeof v.config !== 'string') return usage('run', 'run needs --config FILE');
      const level = (v['log-level'] ?? 'info') as string;
      if (!(LOG_LEVELS as readonly string[]).includes(level)) return usage('run', `--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`);
      const { run } = await import('../daemon/run.js');
      return run({ configPath: v.config, logLevel: level, version: VERSION, ...(typeof v.socket === 'string' ? { socket: v.socket } : {}) });
    },
  },
  validate: {
    args: 'FILE',
    summary: 'check a config file; prints FILE:LINE:COL: CODE: message per problem; exit 0 valid, 1 invalid',
    options: {},
    run: async (_v, positionals) => {
      const file = positionals[0];
      if (!file) return usage('validate', 'validate needs a FILE');
      return validate(file);
    },
  },
  status: {
    summary: "the daemon's state: a table for people, JSON for scripts; exit 3 when no daemon answers",
    options: {
      json: { type: 'boolean', help: 'the status as JSON, for scripts' },
      watch: { type: 'boolean', short: 'w', help: 'redraw every second until interrupted' },
      socket: SOCKET,
    },
    run: (v) => (v.watch ? watchStatus(socketOf(v), v.json === true) : showStatus(socketOf(v), v.json === true)),
  },
  reload: {
    summary: 'validate the file again and swap it in (as SIGHUP); exit 0 applied, 1 rejected, 3 no daemon',
    options: { socket: SOCKET },
    run: (v) => reload(socketOf(v)),
  },
  drain: {
    args: 'UPLINK',
    summary: 'no new flows on UPLINK while another uplink answers; it keeps probing, pinned flows finish (kept until resume, over reloads and restarts)',
    options: { now: { type: 'boolean', help: 'also reset the connections pinned to it' }, socket: SOCKET },
    run: (v, p) => override(socketOf(v), 'drain', p[0], v.now === true),
  },
  prefer: {
    args: 'UPLINK',
    summary: 'steer new flows to UPLINK above its priority tier while it answers (kept until resume)',
    options: { socket: SOCKET },
    run: (v, p) => override(socketOf(v), 'prefer', p[0]),
  },
  resume: {
    args: 'UPLINK',
    summary: 'lift a drain or prefer of UPLINK',
    options: { socket: SOCKET },
    run: (v, p) => override(socketOf(v), 'resume', p[0]),
  },
  check: {
    summary: "exit 0 when an uplink that answers carries the kernel's managed routes, 1 otherwise (3: no daemon); prints nothing (keepalived track_script)",
    options: { socket: SOCKET },
    run: (v) => check(socketOf(v)),
  },
};

const socketOf = (v: Values): string => (typeof v.socket === 'string' ? v.socket : DEFAULT_SOCKET);

function optionHelp(name: string, o: OptionSpec): [string, string] {
  const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.arg ? ` ${o.arg}` : ''}`;
  return [flag, o.help];
}

function synopsis(name: string, c: Command): string {
  const opts = Object.entries(c.options).map(([n, o]) => (n === 'config' ? `--config ${o.arg}` : `[--${n}${o.arg ? ` ${o.arg}` : ''}]`));
  return ['uplinkd', name, ...(c.args ? [c.args] : []), ...opts].join(' ');
}

function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  const rows = [...Object.entries(c.options).map(([n, o]) => optionHelp(n, o)), ['-h, --help', 'this help']];
  const width = Math.max(...rows.map(([f]) => f.length));
  return [`usage: ${synopsis(name, c)}`, `  ${c.summary}`, 'options:', ...rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`)].join('\n');
}

function overview(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${synopsis(name, c)}`);
  return [
    'usage:',
    ...lines,
    '  uplinkd --version',
    "  uplinkd COMMAND --help                    a command's options",
    'exit codes: 0 ok, 1 invalid or failed, 2 usage, 3 no daemon answers',
  ].join('\n');
}

function usage(command: string | undefined, message: string): number {
  process.stderr.write(`uplinkd: ${message}\n${command ? commandHelp(command) : overview()}\n`);
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

/** The daemon's answer, or the exit code after saying why there is none. */
/** A reload or an override waits for the new routes to be in: longer than a status read. */
const CHANGE_TIMEOUT_MS = 30_000;

async function ask(socket: string, req: Request, quiet = false): Promise<Response | number> {
  try {
    return await request(socket, req, req.cmd === 'status' || req.cmd === 'check' ? undefined : CHANGE_TIMEOUT_MS);
  } catch (err) {
    if (!(err instanceof NoDaemonError) && !(err instanceof ControlAccessError)) throw err;
    if (!quiet) process.stderr.write(`uplinkd: ${err.message}\n`);
    return err instanceof NoDaemonError ? EXIT.NO_DAEMON : EXIT.FAIL;
  }
}

async function askStatus(socket: string, quiet = false): Promise<StatusReport | number> {
  const res = await ask(socket, { cmd: 'status' }, quiet);
  if (typeof res === 'number') return res;
  if (!res.ok || !('status' in res)) {
    if (!quiet) process.stderr.write(`uplinkd: ${res.ok ? 'unexpected answer' : res.error}\n`);
    return EXIT.FAIL;
  }
  return res.status;
}

const formatStatus = (s: StatusReport, json: boolean): string => (json ? JSON.stringify(s, null, 2) : renderStatus(s));

async function showStatus(socket: string, json: boolean): Promise<number> {
  const s = await askStatus(socket);
  if (typeof s === 'number') return s;
  process.stdout.write(`${formatStatus(s, json)}\n`);
  return EXIT.OK;
}

/** Redraws every second until SIGINT/SIGTERM (exit 0); a daemon that stops answering is said on screen, and asked again. */
function watchStatus(socket: string, json: boolean): Promise<number> {
  const clear = process.stdout.isTTY ? '\x1b[H\x1b[2J' : '';
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      clearTimeout(timer);
      resolve(EXIT.OK);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const draw = async (): Promise<void> => {
      let text: string;
      try {
        const s = await request(socket, { cmd: 'status' });
        text = s.ok && 'status' in s ? formatStatus(s.status, json) : `uplinkd: ${s.ok ? 'unexpected answer' : s.error}`;
      } catch (err) {
        text = `uplinkd: ${(err as Error).message}`;
      }
      if (stopped) return;
      process.stdout.write(`${clear}${json ? '' : `${new Date().toISOString()}  (every 1s, ^C to quit)\n`}${text}\n`);
      timer = setTimeout(() => void draw(), 1000);
    };
    void draw();
  });
}

async function reload(socket: string): Promise<number> {
  const res = await ask(socket, { cmd: 'reload' });
  if (typeof res === 'number') return res;
  if (!res.ok) {
    process.stderr.write(`uplinkd: reload rejected: ${res.error}\n`);
    for (const p of res.problems ?? []) process.stderr.write(`${p}\n`);
    return EXIT.FAIL;
  }
  process.stdout.write(`reloaded${'changes' in res && res.changes.length ? `: ${res.changes.join(', ')}` : ''}\n`);
  return EXIT.OK;
}

async function override(socket: string, cmd: 'drain' | 'prefer' | 'resume', uplink: string | undefined, now = false): Promise<number> {
  if (!uplink) return usage(cmd, `${cmd} needs an UPLINK`);
  const res = await ask(socket, cmd === 'drain' && now ? { cmd, uplink, now } : { cmd, uplink });
  if (typeof res === 'number') return res;
  if (!res.ok) {
    process.stderr.write(`uplinkd: ${cmd} ${uplink}: ${res.error}\n`);
    return EXIT.FAIL;
  }
  process.stdout.write(`${'done' in res ? res.done : 'done'}\n`);
  return EXIT.OK;
}

async function check(socket: string): Promise<number> {
  const res = await ask(socket, { cmd: 'check' }, true);
  if (typeof res === 'number') return res;
  return res.ok && 'check' in res && res.check.carrying ? EXIT.OK : EXIT.FAIL;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) return usage(undefined, 'no command given');
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`uplinkd ${VERSION}\n`);
    return EXIT.OK;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const about = rest[0];
    if (about !== undefined && !Object.hasOwn(COMMANDS, about)) return usage(undefined, `no command "${about}"`);
    process.stdout.write(`${about ? commandHelp(about) : overview()}\n`);
    return EXIT.OK;
  }
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!spec) return usage(undefined, `unknown command "${command}"`);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(spec.options)) options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}) };
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: spec.args !== undefined }) as { values: Values; positionals: string[] };
  } catch (err) {
    return usage(command, (err as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return EXIT.OK;
  }
  return spec.run(parsed.values, parsed.positionals);
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
