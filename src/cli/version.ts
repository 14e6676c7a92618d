// cli/: the package's version, read once from package.json (the same file in a checkout and
// in an installed package: dist/src/cli/version.js -> ../../../package.json).
import { createRequire } from 'node:module';

export const VERSION: string = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
