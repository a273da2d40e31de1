/**
 * Watching a running ingestor without disturbing it: its own /metrics (one
 * cheap scrape), and its memory and CPU time from /proc (no syscalls into it).
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0; // the process is gone
  }
}

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Prometheus text → the sum of each metric's samples over its labels. Pure. */
export function parseMetrics(text: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const brace = line.indexOf('{');
    const name = brace === -1 || brace > space ? line.slice(0, space) : line.slice(0, brace);
    totals.set(name, (totals.get(name) ?? 0) + Number(line.slice(space + 1)));
  }
  return totals;
}

/** The ingestor's figures the benchmarks follow. */
export interface IngestorSample {
  readonly atMs: number;
  readonly messagesIn: number;
  readonly pointsAccepted: number;
  readonly pointsWritten: number;
  readonly walBytes: number;
  readonly walUnreadBytes: number;
  /** Write requests to InfluxDB so far, and the seconds they took in all. */
  readonly writeRequests: number;
  readonly writeSeconds: number;
  readonly rssMiB: number;
}

export async function sampleIngestor(metricsUrl: string, pid: number): Promise<IngestorSample> {
  const response = await fetch(metricsUrl);
  const text = await response.text();
  // The figures are read when the ingestor answers, which can be well after
  // the request while it is busy: timed by the answer, not the question.
  const atMs = Date.now();
  const metrics = parseMetrics(text);
  const read = (name: string): number => metrics.get(name) ?? 0;
  return {
    atMs,
    messagesIn: read('sensorflow_messages_received_total'),
    pointsAccepted: read('sensorflow_points_accepted_total'),
    pointsWritten: read('sensorflow_points_written_total'),
    walBytes: read('sensorflow_wal_bytes'),
    walUnreadBytes: read('sensorflow_wal_unread_bytes'),
    writeRequests: read('sensorflow_write_duration_seconds_count'),
    writeSeconds: read('sensorflow_write_duration_seconds_sum'),
    rssMiB: rssMiB(pid),
  };
}

/** Samples every `intervalMs` until stopped; never overlapping scrapes. */
export class Sampler<T> {
  readonly samples: T[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(take: () => Promise<T | undefined>, intervalMs: number) {
    this.#done = (async () => {
      while (this.#running) {
        const started = Date.now();
        try {
          const sample = await take();
          if (sample !== undefined) this.samples.push(sample);
        } catch {
          // A scrape that failed (process starting or stopping) is just a gap.
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, intervalMs - (Date.now() - started))));
      }
    })();
  }

  async stop(): Promise<T[]> {
    this.#running = false;
    await this.#done;
    return this.samples;
  }
}
