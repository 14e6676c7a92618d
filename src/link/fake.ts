// link/: a link source beside the real monitor, for tests: set a snapshot, get the changes.
import { EventEmitter } from 'node:events';
import type { LinkMonitorEvents, LinkSource } from './monitor.js';
import { diffSnapshots, type LinkInfo, type LinkSnapshot } from '../types/link.js';

export class FakeLinks extends EventEmitter<LinkMonitorEvents> implements LinkSource {
  private current: LinkSnapshot = new Map();

  snapshot(): LinkSnapshot {
    return this.current;
  }

  /** Replaces the snapshot and emits what changed, as the monitor would. */
  set(links: readonly LinkInfo[]): void {
    const next = new Map(links.map((l) => [l.name, l]));
    const changes = diffSnapshots(this.current, next);
    this.current = next;
    if (changes.length) this.emit('change', changes, next);
  }

  close(): void {}
}

/** An up interface with carrier and one IPv4 address. */
export function upLink(name: string, index: number, address = '100.64.0.2/24'): LinkInfo {
  return { name, index, adminUp: true, carrier: true, addresses: [{ family: 4, prefix: address, global: true }] };
}
