/**
 * The capacity gate in front of the appender. A record goes in at once while
 * the log is under its cap and the disk takes it; otherwise it waits, in
 * order, and the caller (the message's acknowledgement) waits with it:
 *
 * - `full`: the log holds `maxBytes`. Deleting confirmed segments lets the
 *   waiting records in.
 * - `failing`: the disk refused an append (ENOSPC, EIO, …). Retried every
 *   `retryMs` and whenever a segment is deleted (which frees space).
 *
 * State changes are reported once each (not once per waiting record), so a
 * full disk makes one log line, not one per refused message.
 *
 * A record may come with an AbortSignal (its message's MQTT connection):
 * aborted while the record waits, the record leaves the queue unwritten and
 * its promise rejects with the signal's reason. A waiting record holds
 * mqtt.js's packet pump, so a long wait outlives the connection (keepalive);
 * the broker then redelivers the message on the next connection, and
 * writing the old copy too would store it twice.
 */
import { AppendError } from './appender.ts';

export type AppendState =
  | { readonly kind: 'open' }
  | { readonly kind: 'full'; readonly sinceMs: number }
  | { readonly kind: 'failing'; readonly sinceMs: number; readonly code: string };

export interface CapacityGateOptions {
  readonly maxBytes: number;
  /** Delay between attempts while the disk refuses appends. */
  readonly retryMs: number;
  readonly usedBytes: () => number;
  /**
   * Appends the record or throws AppendError, leaving the log as it was.
   * With `defer`, the write(2) may wait for the end of the caller's turn.
   */
  readonly write: (record: Buffer, lineCount: number, defer: boolean, until: AbortSignal | undefined) => void;
  readonly stateChanged: (state: AppendState, previous: AppendState) => void;
  readonly now?: () => number;
}

interface Waiting {
  readonly record: Buffer;
  readonly lineCount: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** Removes the abort listener, if any: the record left the queue. */
  readonly release: () => void;
}

const abortReason = (signal: AbortSignal): Error => (signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
const noop = (): void => {};

export class CapacityGate {
  readonly #options: CapacityGateOptions;
  readonly #now: () => number;
  readonly #waiting: Waiting[] = [];
  #state: AppendState = { kind: 'open' };
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Set once records may no longer wait for room: the reason they are refused. */
  #noWaitReason: string | undefined;

  constructor(options: CapacityGateOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get state(): AppendState {
    return this.#state;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Appends the record now and returns undefined, or returns a promise that
   * settles once it is appended; rejected, unwritten, if the log is closed
   * first or `until` is aborted first (already aborted: at once).
   */
  offer(record: Buffer, lineCount: number, until?: AbortSignal, defer = false): Promise<void> | undefined {
    if (this.#closed) return Promise.reject(new Error('the write-ahead log is closed'));
    if (until?.aborted === true) return Promise.reject(abortReason(until));
    // Deferred only while appends go through: a refusing disk is found out
    // (and waited out) record by record.
    if (this.#waiting.length === 0 && this.#tryWrite(record, lineCount, defer && this.#state.kind === 'open', until)) return undefined;
    if (this.#noWaitReason !== undefined) return Promise.reject(new Error(this.#noWaitReason));
    return this.#enqueue(record, lineCount, until, 'last');
  }

  /**
   * Records the disk refused after they were taken (deferred writes): they
   * wait first in line, retried like any refused append.
   */
  waitFirst(record: Buffer, lineCount: number, error: AppendError, until?: AbortSignal): Promise<void> {
    this.refused(error);
    if (this.#noWaitReason !== undefined) return Promise.reject(new Error(this.#noWaitReason));
    return this.#enqueue(record, lineCount, until, 'first');
  }

  #enqueue(record: Buffer, lineCount: number, until: AbortSignal | undefined, place: 'first' | 'last'): Promise<void> {
    return new Promise((resolve, reject) => {
      let entry: Waiting;
      if (until === undefined) {
        entry = { record, lineCount, resolve, reject, release: noop };
      } else {
        const onAbort = (): void => this.#abandon(entry, abortReason(until));
        entry = { record, lineCount, resolve, reject, release: () => until.removeEventListener('abort', onAbort) };
        until.addEventListener('abort', onAbort, { once: true });
      }
      if (place === 'first') this.#waiting.unshift(entry);
      else this.#waiting.push(entry);
    });
  }

  /** A waiting record whose signal was aborted: out of the queue, unwritten; the next may fit now. */
  #abandon(entry: Waiting, reason: Error): void {
    const index = this.#waiting.indexOf(entry);
    if (index === -1) return;
    this.#waiting.splice(index, 1);
    entry.reject(reason);
    if (index === 0) this.pump();
  }

  /** Lets waiting records in while they fit and the disk takes them. Call when space was freed. */
  pump(): void {
    if (this.#closed) return;
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0] as Waiting;
      if (!this.#tryWrite(next.record, next.lineCount, false, undefined)) return;
      this.#waiting.shift();
      next.release();
      next.resolve();
    }
  }

  /**
   * From now on a record goes in only if it fits at once: those waiting are
   * rejected, and so is any later one that would have to wait.
   */
  stopWaiting(reason: string): void {
    this.#noWaitReason = reason;
    clearTimeout(this.#retryTimer);
    for (const waiting of this.#waiting.splice(0)) {
      waiting.release();
      waiting.reject(new Error(reason));
    }
  }

  close(reason: string): void {
    this.#closed = true;
    this.stopWaiting(reason);
  }

  /** Deferred records the disk refused when they were written: appends wait from now on, retried. */
  refused(error: AppendError): void {
    if (this.#state.kind !== 'failing' || this.#state.code !== error.code) this.#enter({ kind: 'failing', sinceMs: this.#now(), code: error.code });
    this.#scheduleRetry();
  }

  #tryWrite(record: Buffer, lineCount: number, defer: boolean, until: AbortSignal | undefined): boolean {
    if (this.#options.usedBytes() + record.length > this.#options.maxBytes) {
      if (this.#state.kind !== 'full') this.#enter({ kind: 'full', sinceMs: this.#now() });
      return false;
    }
    try {
      this.#options.write(record, lineCount, defer, until);
    } catch (error) {
      if (!(error instanceof AppendError)) throw error;
      this.refused(error);
      return false;
    }
    if (this.#state.kind !== 'open' && this.#waiting.length <= 1) this.#enter({ kind: 'open' });
    return true;
  }

  #enter(state: AppendState): void {
    const previous = this.#state;
    this.#state = state;
    this.#options.stateChanged(state, previous);
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.pump();
    }, this.#options.retryMs);
  }
}
