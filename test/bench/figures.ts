// The benchmark's arithmetic, shared by its parts: medians, rounding, a figure's summary, and
// a process's CPU time.
import { readFileSync } from 'node:fs';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One decimal. */
export const r1 = (n: number): number => Math.round(n * 10) / 10;

export function summary(xs: readonly number[]) {
  return { median: r1(median(xs)), max: r1(Math.max(...xs)), all: xs.map(r1) };
}

/** A process's CPU time in ms so far: utime + stime from /proc (USER_HZ 100). */
export function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}
