// config/: the hooks section: argv lists run without a shell, known events, a bounded timeout;
// every problem at its position.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { OPERATOR_EVENTS } from '../../src/types/events.js';

const BASE = `uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    targets: [ { icmp: 198.51.100.10 } ]
hooks:
`;

function problems(hooks: string): string[] {
  const r = parseConfig(BASE + hooks);
  return r.ok ? [] : r.problems.map((p) => `${p.line}:${p.col} ${p.code} ${p.message}`);
}

it('none by default; each hook takes every event and 10 s unless told', () => {
  const none = parseConfig(BASE.replace('hooks:\n', ''));
  assert.ok(none.ok);
  assert.deepEqual(none.config.hooks, []);
  const r = parseConfig(
    `${BASE}  - run: [/usr/local/bin/page, --team, "net ops"]\n  - { run: [/bin/true], events: [failover, all-down, failover], timeout: 2s }\n`,
  );
  assert.ok(r.ok, JSON.stringify(r.ok || r.problems));
  assert.deepEqual(r.config.hooks, [
    { run: ['/usr/local/bin/page', '--team', 'net ops'], events: OPERATOR_EVENTS, timeoutMs: 10_000 },
    { run: ['/bin/true'], events: ['failover', 'all-down'], timeoutMs: 2000 },
  ]);
});

it('rejects what a careful operator would not mean, at its position', () => {
  const rows: [string, RegExp][] = [
    ['  - run: "/bin/sh -c reboot"\n', /^7:10 WRONG_TYPE hooks\[0\]\.run must be a non-empty list/],
    ['  - run: []\n', /^7:10 WRONG_TYPE/],
    ['  - run: [page.sh]\n', /^7:11 BAD_VALUE hooks\[0\]\.run\[0\] must be an absolute path/],
    [
      '  - { run: [/bin/true], events: [failover, reboot] }\n',
      /^7:44 BAD_VALUE hooks\[0\]\.events\[1\]: unknown event "reboot" \(known: state, steering, failover, failback-step, failback-done, all-down, gateway_changed\)/,
    ],
    ['  - { run: [/bin/true], timeout: 1h }\n', /^7:34 BAD_DURATION hooks\[0\]\.timeout/],
    ['  - { run: [/bin/true], timeout: 10ms }\n', /^7:34 BAD_DURATION/],
    ['  - { run: [/bin/true], shell: yes }\n', /^7:25 UNKNOWN_KEY unknown key "shell" in hooks\[0\]/],
    ['  - { events: [failover] }\n', /^7:5 MISSING_KEY hooks\[0\] has no run/],
    ['  run: [/bin/true]\n', /^7:3 WRONG_TYPE hooks must be a list/],
    [`${'  - run: [/bin/true]\n'.repeat(17)}`, /^7:3 BAD_VALUE hooks: at most 16/],
  ];
  for (const [text, want] of rows) {
    const p = problems(text);
    assert.equal(p.length, 1, `${text}: ${p.join('; ')}`);
    assert.match(p[0]!, want, text);
  }
});
