// mptcp/: an in-memory MPTCP path manager beside the real one (kernel.ts), with the
// kernel's answers that matter: one endpoint per ID (EBUSY) and per address (EEXIST), unknown IDs (EINVAL).
import { KernelError, RecordingFake } from '../netlink/index.js';
import type { MptcpKernel, Subflow } from './kernel.js';
import { type Endpoint, type EndpointLimits, MPTCP_FLAG_BACKUP } from '../types/mptcp.js';

/** `calls` as their `ip mptcp` words. */
export class FakeMptcp extends RecordingFake implements MptcpKernel {
  endpointList: Endpoint[] = [];
  limitValues: EndpointLimits = { subflows: 2, addAddrAccepted: 0 };
  subflowList: Subflow[] = [];

  async endpoints(): Promise<Endpoint[]> {
    return [...this.endpointList];
  }
  async addEndpoint(e: Endpoint): Promise<void> {
    this.record(`add ${e.id} ${e.address}`);
    if (this.endpointList.some((x) => x.id === e.id)) throw new KernelError('EBUSY', `add ${e.id}`);
    if (this.endpointList.some((x) => x.address === e.address)) throw new KernelError('EEXIST', `add ${e.id}`);
    this.endpointList.push(e);
  }
  async deleteEndpoint(id: number): Promise<void> {
    this.record(`delete ${id}`);
    if (!this.endpointList.some((x) => x.id === id)) throw new KernelError('EINVAL', `delete ${id}`);
    this.endpointList = this.endpointList.filter((x) => x.id !== id);
  }
  async setBackup(id: number, backup: boolean): Promise<void> {
    this.record(`${backup ? 'backup' : 'nobackup'} ${id}`);
    const e = this.endpointList.find((x) => x.id === id);
    if (!e) throw new KernelError('EINVAL', `change ${id}`);
    const flags = backup ? e.flags | MPTCP_FLAG_BACKUP : e.flags & ~MPTCP_FLAG_BACKUP;
    this.endpointList = this.endpointList.map((x) => (x.id === id ? { ...x, flags } : x));
  }
  async limits(): Promise<EndpointLimits> {
    return this.limitValues;
  }
  async setLimits(l: EndpointLimits): Promise<void> {
    this.record(`limits ${l.subflows} ${l.addAddrAccepted}`);
    this.limitValues = l;
  }
  async subflows(): Promise<Subflow[]> {
    return [...this.subflowList];
  }
  close(): void {}
}
