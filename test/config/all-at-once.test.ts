import assert from 'node:assert/strict';
import { it } from 'node:test';
import { validate } from './validate.js';

it('every problem is reported in one run, in file order', async () => {
  const r = await validate(`uplinks:
  - name: Bad Name
    interface: wan1
    gateway: 2001:db8::1
    targets:
      - icmp: nope
probe:
  interval: 1 year
routing:
  table: 255
`);
  assert.equal(r.code, 1);
  assert.deepEqual(
    r.lines.map((l) => l.slice(r.file.length + 1).split(': ')[0] + ' ' + l.split(': ')[1]),
    ['2:11 BAD_NAME', '4:14 WRONG_FAMILY', '6:15 BAD_ADDRESS', '8:13 BAD_DURATION', '10:10 RESERVED_TABLE'],
  );
});

it('a missing file is exit 1 with a positioned message', async () => {
  const { execa } = await import('execa');
  const { resolve } = await import('node:path');
  const r = await execa(process.execPath, [resolve(import.meta.dirname, '../../src/cli/main.js'), 'validate', '/nonexistent/uplinkd.yaml'], { reject: false });
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /^\/nonexistent\/uplinkd\.yaml:1:1: BAD_VALUE: cannot read the file \(ENOENT\)$/);
});
