// Types for raw-socket 1.8 (the package ships none): only what probe/ uses.
declare module 'raw-socket' {
  import { EventEmitter } from 'node:events';
  export const AddressFamily: { IPv4: number; IPv6: number };
  export const Protocol: { None: number; ICMP: number; TCP: number; UDP: number; ICMPv6: number };
  export const SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number; IPPROTO_IPV6: number };
  export const SocketOption: Record<string, number>;
  export interface SocketOptions {
    addressFamily?: number;
    protocol?: number;
    bufferSize?: number;
    generateChecksums?: boolean;
    checksumOffset?: number;
  }
  export class Socket extends EventEmitter {
    send(
      buffer: Buffer,
      offset: number,
      length: number,
      address: string,
      beforeCallback: (() => void) | null,
      afterCallback: (error: Error | null, bytes: number) => void,
    ): void;
    setOption(level: number, option: number, value: Buffer | number, length?: number): void;
    close(): void;
    pauseRecv(): this;
    resumeRecv(): this;
  }
  export function createSocket(options?: SocketOptions): Socket;
  const raw: {
    AddressFamily: typeof AddressFamily;
    Protocol: typeof Protocol;
    SocketLevel: typeof SocketLevel;
    SocketOption: typeof SocketOption;
    createSocket: typeof createSocket;
  };
  export default raw;
}
