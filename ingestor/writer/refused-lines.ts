/**
 * Lines InfluxDB refused for good become `ingest_rejects` points, like
 * messages the ingestor itself refuses: Grafana's rejects table shows them
 * with InfluxDB's own reason (e.g. InfluxDB 3's "invalid column type for
 * column 'temperature', expected iox::column_type::field::float, got
 * iox::column_type::field::boolean").
 *
 * Tags `reason=influx_rejected`, `route=influxdb`; fields `error` (InfluxDB's
 * reason), `payload` (the refused line, first 200 bytes), `topic` (empty: the
 * line may come from several messages). At most `perSecond` points a second,
 * like the ingestor's own rejects; a refused `influx_rejected` point is not
 * recorded again (no loop), and nothing is recorded while the log takes
 * nothing (full, or the disk refuses): the point would only wait in memory.
 */
import type { Logger } from 'pino';
import { encodePoint } from '../model/line-protocol.ts';
import type { Point } from '../model/point.ts';
import { rejectPoint, REJECTS_MEASUREMENT } from '../pipeline/reject-point.ts';
import { RateLimiter } from '../pipeline/rejects.ts';

export const REFUSED_REASON = 'influx_rejected';
export const REFUSED_ROUTE = 'influxdb';

/** The `ingest_rejects` point of one refused line. Pure. */
export function refusedLinePoint(line: string, reason: string, nowMs: number): Point {
  return rejectPoint({ topic: '', payload: Buffer.from(line, 'utf8'), receivedAtMs: nowMs, reason: REFUSED_REASON, error: reason, route: REFUSED_ROUTE });
}

/** True for a line that is itself the record of a refused line. */
export const isRefusedRecord = (line: string): boolean => line.startsWith(`${REJECTS_MEASUREMENT},reason=${REFUSED_REASON},`);

export interface RefusedLineLog {
  /** Appends lines to the write-ahead log (WriteAheadLog.append). */
  append(lines: readonly string[]): Promise<void> | undefined;
  readonly appendState: { readonly kind: string };
}

export class RefusedLineRecorder {
  readonly #wal: RefusedLineLog;
  readonly #log: Logger;
  readonly #limiter: RateLimiter;
  readonly #now: () => number;
  readonly #onAppended: () => void;

  constructor(options: { wal: RefusedLineLog; log: Logger; onAppended?: () => void; perSecond?: number; now?: () => number }) {
    this.#wal = options.wal;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#limiter = new RateLimiter(options.perSecond ?? 50, this.#now());
    this.#onAppended = options.onAppended ?? (() => {});
  }

  /** Never throws and never waits: called from the delivery policy, which must not block on the log it drains. */
  record(line: string, reason: string): void {
    if (isRefusedRecord(line) || this.#wal.appendState.kind !== 'open' || !this.#limiter.tryTake(this.#now())) return;
    try {
      const appended = this.#wal.append([encodePoint(refusedLinePoint(line, reason, this.#now()))]);
      if (appended === undefined) this.#onAppended();
      else appended.then(this.#onAppended, (error: unknown) => this.#log.debug({ error: (error as Error).message }, 'could not record a refused line in ingest_rejects'));
    } catch (error) {
      this.#log.warn({ error: (error as Error).message }, 'could not record a refused line in ingest_rejects');
    }
  }
}
