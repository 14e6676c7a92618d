// config/: YAML text -> validated, frozen Config; problems carry a code and FILE:LINE:COL.
export { parseConfig, uplinkTable, type ParseResult } from './parse.js';
export { DEFAULT_SOCKET, DEFAULT_PROBE } from '../types/layout.js';
export { loadConfig, readConfigFile, MAX_CONFIG_BYTES } from './load.js';
export { diffConfig } from './diff.js';
export { formatProblem, ConfigError, type ConfigProblem, type ProblemCode } from './problems.js';
export { parseDuration, formatDuration } from './duration.js';
