// Issue 26, point 3: interface names are letters, digits, ".", "_", "-" and "@", 1 to 15 bytes,
// not "." or "..". The kernel takes more, but `eth*` became an nft wildcard (pinning every
// interface starting with `eth`), a quote broke `nft -f` (retried forever), and NUL or control
// characters passed too.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK, validate } from './validate.js';

const ALLOWED = /letter A-Z or a-z, a digit 0-9, "\.", "_", "-" or "@"/;

/** GOOD_UPLINK with `interface: NAME` (NAME as YAML text: quoted when it needs to be). */
const withInterface = (yaml: string): string => `uplinks:\n${GOOD_UPLINK.replace('wan1', yaml)}`;

it('an interface name with "*" (an nft wildcard)', async () => {
  await expectProblem(withInterface("'eth*'"), 3, 16, 'BAD_INTERFACE', ALLOWED);
});

it('an interface name with a quote and a brace (nft ruleset injection)', async () => {
  await expectProblem(withInterface(`'a"}drop#'`), 3, 16, 'BAD_INTERFACE', ALLOWED);
});

it('an interface name with a NUL, printed escaped', async () => {
  const r = await validate(withInterface('"a\\0b"'));
  assert.equal(r.code, 1);
  assert.ok(!r.lines.join('\n').includes('\0'), 'no NUL on stderr');
  await expectProblem(withInterface('"a\\0b"'), 3, 16, 'BAD_INTERFACE', /"a\\u0000b"/);
});

it('an interface name with a newline, on one problem line', async () => {
  await expectProblem(withInterface('"a\\nb"'), 3, 16, 'BAD_INTERFACE', /"a\\nb" is not an interface name/);
});

it('an interface name with a tab or a space', async () => {
  await expectProblem(withInterface('"a\\tb"'), 3, 16, 'BAD_INTERFACE', ALLOWED);
  await expectProblem(withInterface("'a b'"), 3, 16, 'BAD_INTERFACE', ALLOWED);
});

it('an interface name of 16 bytes (IFNAMSIZ is 16 with the NUL)', async () => {
  await expectProblem(withInterface('abcdefghijklmnop'), 3, 16, 'BAD_INTERFACE', /1 to 15 bytes/);
});

it('an interface named ".." or "."', async () => {
  await expectProblem(withInterface("'..'"), 3, 16, 'BAD_INTERFACE', /not "\." or "\.\."/);
  await expectProblem(withInterface("'.'"), 3, 16, 'BAD_INTERFACE');
});

it('an empty interface name', async () => {
  await expectProblem(withInterface("''"), 3, 16, 'BAD_INTERFACE');
});

it('"/" and ":" (which the kernel refuses too)', async () => {
  await expectProblem(withInterface("'a/b'"), 3, 16, 'BAD_INTERFACE');
  await expectProblem(withInterface("'eth0:1'"), 3, 16, 'BAD_INTERFACE');
});

it('the problem names its key', async () => {
  await expectProblem(withInterface("'eth*'"), 3, 16, 'BAD_INTERFACE', /^uplinks\[0\]\.interface: "eth\*"/);
});

it('a 15-byte interface name is accepted', async () => {
  const r = await validate(withInterface('abcdefghijklmno'));
  assert.equal(r.code, 0, r.lines.join('\n'));
});

it('every allowed character is accepted', async () => {
  for (const name of ['a.b_c-d@e0', 'AZaz09._-@', '.hidden', '-x', '@0', 'wg0', 'enp0s31f6', 'eth0.100', 'br-lan', 'vlan@eth0']) {
    const r = await validate(withInterface(`'${name}'`));
    assert.equal(r.code, 0, `${name}: ${r.lines.join('\n')}`);
  }
});
