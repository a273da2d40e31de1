/**
 * Loads generated line protocol into InfluxDB 1.x for the benches: gzip
 * batches on the v1 `/write` endpoint, two requests in flight, so memory
 * stays at a few batches whatever the fleet size.
 *
 * InfluxDB 1.x answers `500 {"error":"timeout"}` when a write waits longer
 * than its coordinator `write-timeout` (10 s), which happened here on two
 * cores while loading 100,000 devices. The points may or may not be
 * in; sending the same points again is harmless (a point with the same
 * series and time is overwritten with the same values), so such a batch is
 * sent again, a bounded number of times, and any other answer stops the load.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Influx1 } from '../../test/harness/services.ts';

const gzip = promisify(gzipCallback);
const IN_FLIGHT = 2;
const TIMEOUT_RETRIES = 5;
const RETRY_PAUSE_MS = 5_000;

async function send(influx: Influx1, db: string, lines: readonly string[]): Promise<void> {
  const body = await gzip(lines.join('\n'), { level: 1 });
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body, headers: { 'Content-Encoding': 'gzip' } });
    if (response.status === 204) return;
    const text = (await response.text()).slice(0, 300);
    if (response.status !== 500 || !text.includes('timeout') || attempt >= TIMEOUT_RETRIES) throw new Error(`load: HTTP ${response.status}: ${text}`);
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
}

/** Writes every batch; `progress` is told the points sent so far (some may still be in flight) after each batch. Returns the points. */
export async function loadLines(influx: Influx1, db: string, batches: Iterable<string[]>, progress: (points: number) => void = () => undefined): Promise<number> {
  let points = 0;
  const inFlight = new Set<Promise<void>>();
  for (const batch of batches) {
    points += batch.length;
    const request = send(influx, db, batch).finally(() => inFlight.delete(request));
    inFlight.add(request);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    progress(points);
  }
  await Promise.all(inFlight);
  return points;
}
