// Address and prefix helpers shared by every layer, on node:net's parsers (pure, no I/O).
import { isIPv4, isIPv6 } from 'node:net';
import type { Destination, Family } from './index.js';

export function addressFamily(text: string): Family | undefined {
  if (isIPv4(text)) return 4;
  if (isIPv6(text)) return 6;
  return undefined;
}

/** Expands an IPv6 address to its 8 groups, so prefixes can be masked. */
function ipv6Groups(text: string): number[] {
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const parse = (part: string): number[] => {
    if (!part) return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const b = g.split('.').map(Number);
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = parse(head);
  const t = parse(tail);
  return [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}

export function addressBytes(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  const buf = Buffer.alloc(16);
  ipv6Groups(text).forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}

export function bytesToAddress(buf: Uint8Array): string {
  if (buf.length === 4) return Array.from(buf).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((buf[i]! << 8) | buf[i + 1]!).toString(16));
  // RFC 5952: compress the longest run of zero groups.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Parses `default`, `0.0.0.0/0`, `2001:db8::/32`, a bare address (a host route). */
export function parseDestination(text: string): Destination[] | string {
  if (text === 'default') {
    return [
      { prefix: '0.0.0.0/0', family: 4, address: '0.0.0.0', length: 0 },
      { prefix: '::/0', family: 6, address: '::', length: 0 },
    ];
  }
  const [addr, lenText, extra] = text.split('/');
  const family = addressFamily(addr ?? '');
  if (!family || extra !== undefined) return `"${text}" is not a prefix (like 203.0.113.0/24 or 2001:db8::/32) or "default"`;
  const max = family === 4 ? 32 : 128;
  const length = lenText === undefined ? max : Number(lenText);
  if (!/^\d+$/.test(lenText ?? String(max)) || length > max) return `prefix length of "${text}" must be 0 to ${max}`;
  const bytes = addressBytes(addr!);
  for (let bit = length; bit < max; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) return `"${text}" has host bits set past /${length}`;
  }
  const address = bytesToAddress(bytes);
  return [{ prefix: `${address}/${length}`, family, address, length }];
}
