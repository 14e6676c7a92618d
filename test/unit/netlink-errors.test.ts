// netlink/errors: one name for each errno, whichever library reported it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attempt, errnoCode, errnoName, KernelError } from '../../src/netlink/index.js';

describe('errno names', () => {
  const numbers: [number, string][] = [
    [2, 'ENOENT'],
    [19, 'ENODEV'],
    [95, 'EOPNOTSUPP'],
    [105, 'ENOBUFS'],
    [0, 'errno 0'],
  ];
  for (const [n, name] of numbers) it(`errno ${n}: ${name}`, () => assert.equal(errnoName(n), name));

  const errors: [string, unknown, string][] = [
    ['a code', { code: 'EPERM' }, 'EPERM'],
    ["libuv's ENOTSUP", { code: 'ENOTSUP' }, 'EOPNOTSUPP'],
    ["the netlink package's refusal", new Error('Request rejected: ENETUNREACH'), 'ENETUNREACH'],
    ["the netlink package's ENOTSUP", new Error('Request rejected: ENOTSUP'), 'EOPNOTSUPP'],
    ["raw-socket's strerror text", new Error('No such device'), 'ENODEV'],
    ['strerror text in another case', new Error('network is unreachable'), 'ENETUNREACH'],
    ['anything else: its message', new Error('socket closed'), 'socket closed'],
  ];
  for (const [what, err, code] of errors) it(`errnoCode: ${what}`, () => assert.equal(errnoCode(err), code));
});

describe('attempt', () => {
  it('logs what went in as its command; a refusal is its errno name, not logged', async () => {
    const logged: string[] = [];
    assert.equal(
      await attempt(
        'ip route replace default dev wan1',
        async () => undefined,
        (c) => logged.push(c),
      ),
      undefined,
    );
    assert.equal(
      await attempt(
        'ip route replace default dev wan2',
        async () => Promise.reject(new KernelError('ENODEV', 'x')),
        (c) => logged.push(c),
      ),
      'ENODEV',
    );
    assert.equal(
      await attempt(
        'ip rule add',
        async () => Promise.reject(new Error('boom')),
        (c) => logged.push(c),
      ),
      'Error: boom',
    );
    assert.deepEqual(logged, ['ip route replace default dev wan1']);
  });
});
