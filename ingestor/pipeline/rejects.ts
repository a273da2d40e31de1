/**
 * Counts rejected messages by reason and logs them without flooding: a
 * misconfigured fleet can send thousands of bad messages a second, and the
 * log must stay readable (and cheap) while it does.
 */
import type { Logger } from 'pino';
import type { RejectReason } from '../contracts.ts';

export interface RejectRecord {
  readonly topic: string;
  readonly reason: RejectReason;
  readonly error: string;
}

/** Token bucket: at most `perSecond` lines a second, bursts of up to `perSecond`. */
export class RateLimiter {
  readonly #perSecond: number;
  #tokens: number;
  #lastRefillMs: number;

  constructor(perSecond: number, nowMs: number) {
    this.#perSecond = perSecond;
    this.#tokens = perSecond;
    this.#lastRefillMs = nowMs;
  }

  tryTake(nowMs: number): boolean {
    const elapsed = Math.max(0, nowMs - this.#lastRefillMs);
    this.#tokens = Math.min(this.#perSecond, this.#tokens + (elapsed * this.#perSecond) / 1000);
    this.#lastRefillMs = nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export class RejectLog {
  readonly #byReason = new Map<RejectReason, number>();
  readonly #limiter: RateLimiter;
  readonly #log: Logger;
  readonly #now: () => number;
  #suppressed = 0;

  constructor(log: Logger, options: { linesPerSecond?: number; now?: () => number } = {}) {
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#limiter = new RateLimiter(options.linesPerSecond ?? 5, this.#now());
  }

  record(entry: RejectRecord): void {
    this.#byReason.set(entry.reason, (this.#byReason.get(entry.reason) ?? 0) + 1);
    if (!this.#limiter.tryTake(this.#now())) {
      this.#suppressed += 1;
      return;
    }
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#log.warn(
      { topic: entry.topic, reason: entry.reason, error: entry.error, ...(suppressed > 0 && { suppressed }) },
      'message rejected',
    );
  }

  counts(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#byReason);
  }

  get total(): number {
    let sum = 0;
    for (const count of this.#byReason.values()) sum += count;
    return sum;
  }
}
