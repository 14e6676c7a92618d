// config/tables: rt_tables text -> names and ids (parseRtTables; readRtTables reads the
// system's files and is not tested here), and `routing.table: NAME` resolved through it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { parseRtTables } from '../../src/config/tables.js';

// iproute2's shipped /etc/iproute2/rt_tables.
const SHIPPED = '#\n# reserved values\n#\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n#\n# local\n#\n#1\tinr.ruhep\n';

describe('rt_tables', () => {
  const rows: [string, string, [string, number][]][] = [
    [
      'the shipped file: four names, the commented one left out',
      SHIPPED,
      [
        ['local', 255],
        ['main', 254],
        ['default', 253],
        ['unspec', 0],
      ],
    ],
    [
      'spaces or tabs between id and name',
      '100 isp1\n101\tisp2\n102 \t isp3\n',
      [
        ['isp1', 100],
        ['isp2', 101],
        ['isp3', 102],
      ],
    ],
    [
      'hex ids',
      '0x10 isp1\n0xFF isp2\n0x1f4 isp3\n',
      [
        ['isp1', 16],
        ['isp2', 255],
        ['isp3', 500],
      ],
    ],
    ['ids are decimal, a leading zero too', '010 isp1\n', [['isp1', 10]]],
    [
      'ids above 255',
      '1000 vpn\n4294967295 top\n',
      [
        ['vpn', 1000],
        ['top', 4294967295],
      ],
    ],
    [
      'comments after an entry, indented lines',
      '200 isp1 # the fiber\n  201 isp2\n\t# 202 isp3\n',
      [
        ['isp1', 200],
        ['isp2', 201],
      ],
    ],
    [
      'CRLF line ends',
      '200 isp1\r\n201 isp2\r\n',
      [
        ['isp1', 200],
        ['isp2', 201],
      ],
    ],
    ['a name given twice: the first id', '300 isp\n301 isp\n', [['isp', 300]]],
    ['lines that are not ID NAME are skipped', 'isp1 100\n100\n-5 neg\nx10 isp2\n\n300 ok\n', [['ok', 300]]],
    ['empty text', '', []],
  ];
  for (const [what, text, want] of rows) it(what, () => assert.deepEqual([...parseRtTables(text)], want));

  it('adds to a map it is given, keeping what is there (files read earlier win)', () => {
    const into = new Map([['isp1', 50]]);
    const out = parseRtTables('60 isp1\n61 isp2\n', into);
    assert.equal(out, into);
    assert.deepEqual(
      [...out],
      [
        ['isp1', 50],
        ['isp2', 61],
      ],
    );
  });

  it("routing.table by name: the managed table and the uplinks' own tables 1000 above it", () => {
    const text =
      'uplinks:\n  - name: fiber\n    interface: wan1\n    targets:\n      - icmp: 198.51.100.1\n  - name: lte\n    interface: wan2\n    targets:\n      - icmp: 198.51.100.2\nrouting:\n  table: isp2\n';
    const r = parseConfig(text, { tableNames: parseRtTables(`${SHIPPED}200 isp2\n`) });
    assert.ok(r.ok, JSON.stringify(r.ok || r.problems));
    assert.equal(r.config.routing.table, 200);
    assert.deepEqual(
      r.config.uplinks.map((u) => u.table),
      [1200, 1201],
    );
    const unknown = parseConfig(text, { tableNames: parseRtTables(SHIPPED) });
    assert.ok(!unknown.ok);
    assert.deepEqual(
      unknown.problems.map((p) => p.code),
      ['UNKNOWN_TABLE'],
    );
  });
});
