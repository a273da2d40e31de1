/**
 * Publish-to-queryable latency, sampled: every `intervalMs` one small InfluxQL
 * query asks for the new points of a few devices since the newest one seen
 * (one indexed series each, a few rows: cheap for InfluxDB, unlike count()).
 * A point's latency is the time the answer that first returned it arrived,
 * minus its payload timestamp (the simulator stamps each reading when it
 * publishes it): an upper bound, at most one interval plus the query's own
 * time above the truth, never below it.
 */
import type { Influx1 } from '../../test/harness/services.ts';

const LOOK_BEHIND_MS = 2000;

export interface LatencySample {
  /** When it became queryable (ms since epoch). */
  readonly atMs: number;
  readonly latencyMs: number;
}

export class LatencyProbe {
  readonly samples: LatencySample[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(influx: Influx1, database: string, devices: readonly string[], intervalMs: number, sinceMs: number) {
    const filter = devices.map((device) => `device = '${device}'`).join(' OR ');
    let newestMs = sinceMs;
    // Batches can land slightly out of order (WRITE_CONCURRENCY > 1): look a
    // little behind the newest point seen, and count each point once.
    const seen = new Set<string>();
    this.#done = (async () => {
      while (this.#running) {
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
        try {
          const rows = await influx.query(`SELECT temperature, device FROM telemetry WHERE (${filter}) AND time > ${newestMs - LOOK_BEHIND_MS}ms`, database);
          const seenAtMs = Date.now();
          for (const row of rows) {
            const timestampMs = row.time as number;
            const key = `${row.device as string}@${timestampMs}`;
            if (seen.has(key)) continue;
            seen.add(key);
            newestMs = Math.max(newestMs, timestampMs);
            this.samples.push({ atMs: seenAtMs, latencyMs: seenAtMs - timestampMs });
          }
        } catch {
          // InfluxDB down (the outage run): no sample, try again.
        }
      }
    })();
  }

  async stop(): Promise<LatencySample[]> {
    this.#running = false;
    await this.#done;
    return this.samples;
  }
}
