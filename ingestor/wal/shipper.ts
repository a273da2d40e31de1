/**
 * Ships the write-ahead log to InfluxDB: reads batches in order, hands each
 * to the delivery policy (at most `concurrency` at a time), and confirms it
 * to the log once delivery has settled, which lets the log delete segments.
 *
 * A batch goes out when BATCH_SIZE lines are waiting, when the oldest waiting
 * line is FLUSH_INTERVAL_MS old, at once for a replay backlog, and at once
 * while draining. Memory holds at most `concurrency` batches.
 */
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { WalBatch, WriteAheadLog } from './wal.ts';

export interface ShipperOptions {
  readonly wal: WriteAheadLog;
  readonly deliver: (lines: string[]) => Promise<void>;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly concurrency: number;
  readonly log: Logger;
  /** Replay progress is logged at most this often. @default 5000 */
  readonly progressIntervalMs?: number;
}

export class Shipper {
  readonly #options: ShipperOptions;
  readonly #queue: PQueue;
  #running = false;
  #draining = false;
  #wake: (() => void) | undefined;
  #lastProgressAtMs = 0;
  readonly #drainWaiters: (() => void)[] = [];

  constructor(options: ShipperOptions) {
    this.#options = options;
    this.#queue = new PQueue({ concurrency: options.concurrency });
    // A batch settled: a drain may be complete.
    this.#queue.on('next', () => this.#settleDrain());
  }

  start(): void {
    this.#running = true;
    void this.#run();
  }

  async #run(): Promise<void> {
    const { wal, batchSize, flushIntervalMs } = this.#options;
    while (this.#running) {
      // Tasks start as soon as they are added, so `pending` is the number in flight.
      if (this.#queue.pending >= this.#options.concurrency) {
        await this.#oneSettles();
        continue;
      }
      const oldest = wal.oldestUnreadAtMs;
      if (oldest === undefined) {
        this.#settleDrain();
        await this.#sleepUntil(wal.nextAppend(), undefined);
        continue;
      }
      const waitMs = oldest + flushIntervalMs - Date.now();
      if (wal.unreadLines < batchSize && waitMs > 0 && !this.#draining) {
        await this.#sleepUntil(wal.nextAppend(), waitMs);
        continue;
      }
      const batch = wal.readBatch(batchSize);
      if (batch === undefined) continue;
      this.#reportReplay();
      void this.#queue.add(() => this.#ship(batch));
    }
  }

  async #ship(batch: WalBatch): Promise<void> {
    await this.#options.deliver(batch.lines);
    try {
      this.#options.wal.confirm(batch);
    } catch (error) {
      // A bug, not a condition to live with; but a crash would not help the data either.
      this.#options.log.error({ error: (error as Error).message, segmentId: batch.segmentId }, 'confirming a batch failed');
    }
    this.#wake?.();
  }

  #oneSettles(): Promise<void> {
    return new Promise((resolve) => this.#queue.once('next', () => resolve()));
  }

  #sleepUntil(event: Promise<void>, ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.#wake = done;
      void event.then(done);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  #reportReplay(): void {
    const { doneBytes, totalBytes } = this.#options.wal.replay;
    if (totalBytes === 0 || this.#lastProgressAtMs === -1) return;
    const now = Date.now();
    const finished = doneBytes >= totalBytes;
    if (!finished && now - this.#lastProgressAtMs < (this.#options.progressIntervalMs ?? 5000)) return;
    this.#lastProgressAtMs = finished ? -1 : now;
    this.#options.log.info(
      { doneBytes, totalBytes, percent: Math.floor((doneBytes / totalBytes) * 100) },
      finished ? 'replay of the previous run\'s backlog read in full' : 'replaying the previous run\'s backlog',
    );
  }

  /**
   * Sends what is left without waiting for full batches; resolves when all
   * is read and confirmed. Settled by events (a batch confirmed, the reader
   * finding nothing left), not by polling.
   */
  drain(): Promise<void> {
    this.#draining = true;
    const drained = new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    this.#settleDrain();
    this.#wake?.();
    return drained;
  }

  #settleDrain(): void {
    if (!this.#draining || this.#drainWaiters.length === 0) return;
    if (this.#options.wal.unreadBytes > 0 || this.#queue.size + this.#queue.pending > 0) return;
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }

  /**
   * Stops reading. Batches in flight are not waited for (InfluxDB may be
   * down): unconfirmed, they are read again at the next start.
   */
  stop(): void {
    this.#running = false;
    this.#wake?.();
  }
}
