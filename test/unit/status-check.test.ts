// status/: `uplinkd check`'s verdict as a table: a managed route in the kernel through an uplink
// that answers, or through one adopted at start that has no verdict yet.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CheckInput, checkView } from '../../src/status/check.js';
import type { UplinkState } from '../../src/types/index.js';

const input = (states: [string, UplinkState][], route: [string, number][], adopted: string[] = []): CheckInput => ({
  uplinks: states.map(([name, state]) => ({ name, state })),
  routes: route.length ? [{ destination: '0.0.0.0/0', table: 100, nexthops: route.map(([uplink, weight]) => ({ uplink, weight })) }] : [],
  adopted: new Set(adopted),
});

describe('check', () => {
  const rows: [string, CheckInput, boolean, RegExp][] = [
    [
      'the kernel routes through an uplink that is up',
      input(
        [
          ['fiber', 'up'],
          ['dsl', 'up'],
        ],
        [['fiber', 100]],
      ),
      true,
      /through fiber/,
    ],
    ['a degraded uplink still carries', input([['fiber', 'degraded']], [['fiber', 100]]), true, /fiber/],
    [
      'every uplink lost: the last route stays, nothing gets out',
      input(
        [
          ['fiber', 'down'],
          ['dsl', 'detached'],
        ],
        [['fiber', 100]],
      ),
      false,
      /fiber, which do not answer/,
    ],
    ['no managed route in the kernel', input([['fiber', 'up']], []), false, /no managed route/],
    [
      'up, but the route goes through a lost one',
      input(
        [
          ['fiber', 'down'],
          ['dsl', 'up'],
        ],
        [['fiber', 100]],
      ),
      false,
      /do not answer/,
    ],
    [
      'a failback step: one of the two answers',
      input(
        [
          ['fiber', 'down'],
          ['dsl', 'up'],
        ],
        [
          ['fiber', 10],
          ['dsl', 90],
        ],
      ),
      true,
      /through dsl/,
    ],
    [
      'just restarted: the adopted route, no verdict yet, carries',
      input(
        [
          ['fiber', 'init'],
          ['dsl', 'init'],
        ],
        [['fiber', 100]],
        ['fiber'],
      ),
      true,
      /through fiber/,
    ],
    ['a fresh start: no verdict, nothing adopted', input([['fiber', 'init']], [['fiber', 100]]), false, /do not answer/],
  ];
  for (const [what, c, carrying, reason] of rows) {
    it(what, () => {
      const v = checkView(c);
      assert.equal(v.carrying, carrying);
      assert.match(v.reason, reason);
    });
  }
});
