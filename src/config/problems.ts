// Config problems: a code, a message and the position they refer to (eemeli/yaml style).

export type ProblemCode =
  | 'YAML_SYNTAX'
  | 'UNKNOWN_KEY'
  | 'MISSING_KEY'
  | 'WRONG_TYPE'
  | 'BAD_VALUE'
  | 'BAD_DURATION'
  | 'BAD_ADDRESS'
  | 'WRONG_FAMILY'
  | 'BAD_PREFIX'
  | 'BAD_NAME'
  | 'BAD_INTERFACE'
  | 'DUPLICATE_NAME'
  | 'DUPLICATE_INTERFACE'
  | 'MISSING_TARGETS'
  | 'RELIABILITY_TOO_HIGH'
  | 'BAD_FAILBACK_STEPS'
  | 'RESERVED_TABLE'
  | 'UNKNOWN_TABLE'
  | 'REMOVED_KEY';

export interface ConfigProblem {
  readonly code: ProblemCode;
  readonly message: string;
  /** 1-based, as editors count. */
  readonly line: number;
  readonly col: number;
}

/** `FILE:LINE:COL: CODE: message`, the line `uplinkd validate` prints (src/README.md §2). */
export function formatProblem(file: string, p: ConfigProblem): string {
  return `${file}:${p.line}:${p.col}: ${p.code}: ${p.message}`;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(problems.map((p) => formatProblem(file, p)).join('\n'));
    this.name = 'ConfigError';
  }
}
