// config/: YAML text -> validated, frozen Config; problems carry a code and FILE:LINE:COL.
export { parseConfig, uplinkTable, DEFAULT_SOCKET, DEFAULT_PROBE, type ParseResult } from './parse.js';
export { loadConfig, readConfigFile, MAX_CONFIG_BYTES } from './load.js';
export { diffConfig, type ConfigDiff } from './diff.js';
export { formatProblem, ConfigError, type ConfigProblem, type ProblemCode } from './problems.js';
export { parseDuration, formatDuration } from './duration.js';
