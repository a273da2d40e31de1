/**
 * Writes the rollups (rollups/book.ts) through the write-ahead log, like
 * every other point (the `ingestor_stats` and `device_state` pattern): every
 * few seconds the minutes that are due are closed and their points appended.
 * So a rollup point is as durable as a raw one once it is closed, and a
 * replay of the log overwrites it with itself (fixed timestamps).
 *
 * What a crash loses (docs/data-model.md, rollups): the open minutes, i.e.
 * the current minute and any minute still in its grace; the raw points of
 * those minutes are in the log and reach InfluxDB, only their rollups are
 * missing. A clean stop (`flush`) writes the open minutes as they are,
 * before the log stops taking points; the minute the ingestor stopped in
 * then holds only what it saw before the stop, and what the next start
 * receives of that same minute overwrites it (same series, same time).
 *
 * Never throws: a timer's uncaught error would end the process, and a full
 * log must not. While the log takes nothing (full, or the disk refuses) the
 * due minutes are kept back, bounded by ROLLUP_MAX_BUCKETS.
 */
import type { Logger } from 'pino';
import type { LineLog } from '../contracts.ts';
import { encodePoint } from '../model/line-protocol.ts';
import type { Point } from '../model/point.ts';
import type { RollupBook } from './book.ts';

/** How often due minutes are looked for: a small part of a minute. */
export const ROLLUP_CHECK_MS = 5_000;

/** Lines per log record: small enough for any log segment (as liveness/ticker.ts). */
const MAX_RECORD_BYTES = 32 * 1024;

export interface RollupTickerOptions {
  readonly book: RollupBook;
  readonly wal: LineLog;
  /** False while the log takes nothing (full, or the disk refuses). */
  readonly canAppend: () => boolean;
  /** False while the MQTT source is disconnected: no heartbeat for a minute without points then (book.ts, closeDue). */
  readonly sourceConnected?: () => boolean;
  readonly log: Logger;
  readonly checkMs?: number;
  readonly now?: () => number;
  /** Counted into `points_accepted` once logged. */
  readonly accepted: (count: number) => void;
}

export class RollupTicker {
  readonly #options: RollupTickerOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #busy = false;
  /** Lines of closed minutes not yet in the log (the log was full). */
  #waiting: string[] = [];
  /** Rollup points that could not be encoded (a name line protocol cannot carry): logged once. */
  #warnedInvalid = false;

  constructor(options: RollupTickerOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#options.checkMs ?? ROLLUP_CHECK_MS);
    this.#timer.unref();
  }

  /** Closes the due minutes and appends their points; resolves once they are in the log. */
  async tick(): Promise<void> {
    // While the log takes nothing, due minutes stay open in the book (bounded by ROLLUP_MAX_BUCKETS).
    if (this.#stopped || this.#busy || !this.#options.canAppend()) return;
    const { book, now = Date.now } = this.#options;
    this.#busy = true;
    try {
      this.#encode(book.closeDue(now(), this.#options.sourceConnected?.() ?? true));
      await this.#append();
    } catch (error) {
      this.#options.log.warn({ error: (error as Error).message }, 'could not log rollup points; they are retried at the next check');
    } finally {
      this.#busy = false;
    }
  }

  /** Clean stop: every open minute as it is, into the log; nothing rolls up after. */
  async flush(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    try {
      this.#encode([...this.#options.book.closeDue(Number.POSITIVE_INFINITY), ...this.#options.book.closeAll()]);
      await this.#append();
    } catch (error) {
      this.#options.log.warn({ error: (error as Error).message }, 'could not log the open minutes\' rollups at stop; they are lost (the raw points are not)');
    }
  }

  #encode(points: readonly Point[]): void {
    for (const point of points) {
      try {
        this.#waiting.push(encodePoint(point));
      } catch (error) {
        if (!this.#warnedInvalid) this.#options.log.warn({ error: (error as Error).message, measurement: point.measurement, tags: point.tags }, 'a rollup point cannot be written; skipped (logged once)');
        this.#warnedInvalid = true;
      }
    }
  }

  async #append(): Promise<void> {
    const { wal, canAppend, accepted } = this.#options;
    while (this.#waiting.length > 0 && canAppend()) {
      const record: string[] = [];
      let bytes = 0;
      while (record.length < this.#waiting.length && (record.length === 0 || bytes + (this.#waiting[record.length] as string).length < MAX_RECORD_BYTES)) {
        const line = this.#waiting[record.length] as string;
        record.push(line);
        bytes += line.length + 1;
      }
      await wal.append(record);
      this.#waiting = this.#waiting.slice(record.length);
      accepted(record.length);
    }
  }
}
