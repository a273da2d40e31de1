/**
 * Groups lines into batches by size and time and hands each batch to the
 * writer, a bounded number at a time.
 *
 * Memory is bounded: when `maxQueuedBatches` batches wait for the writer,
 * `add()` returns a promise that settles only when one of them is gone. The
 * MQTT source awaits it before acknowledging, so a slow or absent InfluxDB
 * slows the broker down instead of growing this process.
 */
import PQueue from 'p-queue';

export type DeliverBatch = (lines: string[]) => Promise<void>;

export interface BatcherOptions {
  /** Lines per write. @default 5000 */
  readonly batchSize: number;
  /** Longest time a line waits for its batch to fill. @default 1000 */
  readonly flushIntervalMs: number;
  /** Concurrent writes. @default 2 */
  readonly concurrency: number;
  /** Batches waiting for a writer before `add()` pushes back. @default 20 */
  readonly maxQueuedBatches: number;
  readonly deliver: DeliverBatch;
}

export class Batcher {
  readonly #options: BatcherOptions;
  readonly #queue: PQueue;
  #pending: string[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: BatcherOptions) {
    for (const key of ['batchSize', 'flushIntervalMs', 'concurrency', 'maxQueuedBatches'] as const) {
      const value = options[key];
      if (!Number.isInteger(value) || value < 1) {
        throw new TypeError(`Batcher option ${key} must be a whole number ≥ 1, got ${String(value)}`);
      }
    }
    this.#options = options;
    this.#queue = new PQueue({ concurrency: options.concurrency });
  }

  /** Batches waiting for a writer plus batches being written. */
  get bufferedBatches(): number {
    return this.#queue.size + this.#queue.pending;
  }

  add(lines: readonly string[]): Promise<void> | undefined {
    for (const line of lines) this.#pending.push(line);
    if (this.#pending.length >= this.#options.batchSize) {
      this.#cutFullBatches();
    } else if (this.#timer === undefined && this.#pending.length > 0) {
      this.#timer = setTimeout(() => this.flush(), this.#options.flushIntervalMs);
    }
    if (this.#queue.size >= this.#options.maxQueuedBatches) {
      return this.#queue.onSizeLessThan(this.#options.maxQueuedBatches);
    }
    return undefined;
  }

  /** Hands whatever is pending to the writer now. */
  flush(): void {
    this.#clearTimer();
    if (this.#pending.length === 0) return;
    this.#enqueue(this.#pending);
    this.#pending = [];
  }

  /** Flushes and resolves once every batch handed over so far is delivered. */
  async drain(): Promise<void> {
    this.flush();
    await this.#queue.onIdle();
  }

  #cutFullBatches(): void {
    this.#clearTimer();
    const { batchSize } = this.#options;
    while (this.#pending.length >= batchSize) {
      this.#enqueue(this.#pending.slice(0, batchSize));
      this.#pending = this.#pending.slice(batchSize);
    }
    if (this.#pending.length > 0) {
      this.#timer = setTimeout(() => this.flush(), this.#options.flushIntervalMs);
    }
  }

  #enqueue(batch: string[]): void {
    // deliver() handles every outcome itself and settles only when the batch
    // is done with; the queue never sees a rejection.
    void this.#queue.add(() => this.#options.deliver(batch));
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
