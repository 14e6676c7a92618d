// A strict reader of Prometheus's text exposition format (version 0.0.4): every line a HELP or
// TYPE comment or a sample; HELP and TYPE at most once per family and before its samples;
// names and labels by the format's grammar; values as Go's ParseFloat takes them. Returns the
// samples; throws naming the first line that is not valid.
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function value(text: string): number {
  if (/^[+-]?Inf$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (text === 'NaN') return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`bad value "${text}"`);
  return Number(text);
}

function labels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = LABEL.exec(rest);
    if (!m) throw new Error(`bad labels "${text}"`);
    if (m[1]! in out) throw new Error(`label ${m[1]} twice`);
    out[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    rest = rest.slice(m[0].length);
  }
  return out;
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const help = new Set<string>();
  const type = new Map<string, string>();
  const sampled = new Set<string>();
  const family = (name: string): string => {
    const t = [...type.keys()].find(
      (f) => name === f || ((type.get(f) === 'histogram' || type.get(f) === 'summary') && /^(.*)_(bucket|sum|count)$/.exec(name)?.[1] === f),
    );
    return t ?? name;
  };
  for (const [i, line] of text.split('\n').entries()) {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') continue;
    try {
      if (line.startsWith('#')) {
        const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
        if (!m) continue; // other comments are allowed
        const [, kind, name, rest] = m;
        if (!NAME.test(name!)) throw new Error('bad metric name');
        if (sampled.has(name!)) throw new Error(`${kind} after samples of ${name}`);
        if (kind === 'HELP') {
          if (help.has(name!)) throw new Error('HELP twice');
          help.add(name!);
        } else {
          if (type.has(name!)) throw new Error('TYPE twice');
          if (!TYPES.has(rest!)) throw new Error(`unknown type ${rest}`);
          type.set(name!, rest!);
        }
        continue;
      }
      const m = SAMPLE.exec(line);
      if (!m) throw new Error('not a sample');
      sampled.add(family(m[1]!));
      samples.push({ name: m[1]!, labels: m[3] ? labels(m[3]) : {}, value: value(m[4]!) });
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
  }
  if (!text.endsWith('\n')) throw new Error('the text must end with a newline');
  return samples;
}
