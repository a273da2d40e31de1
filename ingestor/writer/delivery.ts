/**
 * The delivery policy: takes a batch and does not let go of it until every
 * line is either stored or rejected for good by InfluxDB (and recorded as
 * such). Each outcome gets its own treatment:
 *
 * | outcome        | treatment                                                   |
 * |----------------|-------------------------------------------------------------|
 * | written        | done                                                        |
 * | too_large      | split in halves, deliver each (in order)                    |
 * | rejected       | bisect down to the bad lines; store the rest, reject those  |
 * | partial        | InfluxDB 3 stored all but the lines it names: reject those  |
 * | throttled      | wait max(backoff, Retry-After), retry                       |
 * | server_error   | capped exponential backoff with jitter, retry forever       |
 * | network_error  | same                                                        |
 * | misconfigured  | one clear log line per streak, retry slowly, keep the data  |
 * | tls_error      | same (a certificate or a setting must change first)         |
 *
 * Failures are logged once per streak (and again when their kind changes),
 * not once per request. The first request that succeeds after a streak ends
 * it: "InfluxDB accepts writes again" is logged then, and every batch
 * sleeping in backoff is woken to go at once, so the log line and the points
 * landing are moments apart, not a backoff period.
 */
import type { Logger } from 'pino';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from '../util/backoff.ts';
import type { SendLines } from '../contracts.ts';
import { InfluxHealth, type FailedOutcome } from './influx-health.ts';
import { misconfigurationHint, type WriteOutcome } from './outcome.ts';

export interface DeliveryEvents {
  /** Lines InfluxDB confirmed. */
  written(count: number): void;
  /** A line InfluxDB refuses for good, with its reason. */
  rejected(line: string, reason: string): void;
  /** A request that will be retried. */
  retrying(outcome: WriteOutcome, delayMs: number): void;
}

export interface DeliveryOptions {
  readonly send: SendLines;
  readonly log: Logger;
  readonly events: DeliveryEvents;
  readonly backoff?: BackoffOptions;
  /** Delay between attempts while InfluxDB refuses our configuration. @default 30000 */
  readonly misconfiguredRetryMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Where writes go, as the operator configured it, for log lines (e.g. `INFLUX_URL=http://influxdb:8086`). */
  readonly target?: string;
  /** Told every outcome. @default a private one */
  readonly health?: InfluxHealth;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Delivery {
  readonly #options: DeliveryOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #health: InfluxHealth;
  readonly #target: string;
  /** Batches sleeping in backoff; a successful write wakes them. */
  readonly #sleepers = new Set<() => void>();

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#health = options.health ?? new InfluxHealth();
    this.#target = options.target ?? 'InfluxDB';
  }

  get health(): InfluxHealth {
    return this.#health;
  }

  /** Settles once every line of the batch is stored or rejected for good. Never rejects. */
  async deliver(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const outcome = await this.#sendUntilDecided(lines);
    switch (outcome.kind) {
      case 'written':
        this.#options.events.written(lines.length);
        return;
      case 'too_large':
      case 'rejected':
        if (lines.length === 1) {
          this.#options.events.rejected(lines[0] as string, outcome.message);
          return;
        }
        // Halves in order, so the older lines are written first.
        await this.deliver(lines.slice(0, lines.length >> 1));
        await this.deliver(lines.slice(lines.length >> 1));
        return;
      case 'partial': {
        // Only the lines named are refused; the rest are stored already (classifyV3Response checked the numbers).
        for (const { index, reason } of outcome.refused) this.#options.events.rejected(lines[index] as string, reason);
        const stored = lines.length - outcome.refused.length;
        if (stored > 0) this.#options.events.written(stored);
        return;
      }
    }
  }

  /** Sends until the outcome is final for these lines (written, partially written, too large, rejected). */
  async #sendUntilDecided(lines: readonly string[]): Promise<Extract<WriteOutcome, { kind: 'written' | 'too_large' | 'rejected' | 'partial' }>> {
    const backoff = this.#options.backoff ?? DEFAULT_BACKOFF;
    for (let attempt = 0; ; attempt += 1) {
      const outcome = await this.#options.send(lines);
      let delayMs: number;
      switch (outcome.kind) {
        case 'written':
        case 'partial':
          // A partial write is an answer from a server that stores: any failing streak is over.
          this.#noteWritten();
          return outcome;
        case 'too_large':
        case 'rejected':
          return outcome;
        case 'throttled':
          delayMs = Math.max(backoffDelayMs(attempt, backoff), outcome.retryAfterMs);
          break;
        case 'server_error':
        case 'network_error':
          delayMs = backoffDelayMs(attempt, backoff);
          break;
        case 'misconfigured':
        case 'tls_error':
          delayMs = this.#options.misconfiguredRetryMs ?? 30_000;
          break;
      }
      this.#noteFailed(outcome, delayMs);
      this.#options.events.retrying(outcome, delayMs);
      await this.#pause(delayMs);
    }
  }

  /** Sleeps for the backoff, or until another batch's write succeeds. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#sleepers.delete(wake);
        resolve();
      };
      this.#sleepers.add(wake);
      void this.#sleep(ms).then(wake);
    });
  }

  /** One log line per failing streak (and per change of its kind), naming where writes go. */
  #noteFailed(outcome: FailedOutcome, delayMs: number): void {
    const { log } = this.#options;
    if (!this.#health.failed(outcome)) {
      log.debug({ outcome: outcome.kind, error: outcome.message, delayMs }, 'write failed; retrying');
      return;
    }
    if (outcome.kind === 'misconfigured' && outcome.status === 0) {
      // Refused before any request (server-identity.ts): the message says what to set.
      log.error({ error: outcome.message, target: this.#target }, `${outcome.message}; keeping the data and retrying every ${this.#slowRetryPeriod()}`);
      return;
    }
    if (outcome.kind === 'misconfigured') {
      log.error(
        { status: outcome.status, error: outcome.message, target: this.#target },
        `InfluxDB refused the write (HTTP ${outcome.status}): ${misconfigurationHint(outcome.status)}; keeping the data and retrying every ${this.#slowRetryPeriod()}`,
      );
      return;
    }
    if (outcome.kind === 'tls_error') {
      log.error(
        { code: outcome.code, target: this.#target },
        `InfluxDB at ${this.#target}: ${outcome.message}; keeping the data in the write-ahead log and retrying every ${this.#slowRetryPeriod()}`,
      );
      return;
    }
    const what = outcome.kind === 'throttled' ? `asks us to slow down (HTTP ${outcome.status})` : outcome.kind === 'server_error' ? `answers HTTP ${outcome.status}` : 'is unreachable';
    log.warn(
      { outcome: outcome.kind, error: outcome.message, target: this.#target, delayMs },
      `InfluxDB at ${this.#target} ${what}: ${outcome.message}; keeping the data in the write-ahead log and retrying`,
    );
  }

  /** The misconfiguration retry period in words: "30 s", or "200 ms" below a second. */
  #slowRetryPeriod(): string {
    const ms = this.#options.misconfiguredRetryMs ?? 30_000;
    return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
  }

  #noteWritten(): void {
    const previous = this.#health.written();
    if (previous?.kind !== 'failing') return;
    this.#options.log.info({ target: this.#target, failingForMs: Date.now() - previous.sinceMs }, 'InfluxDB accepts writes again');
    for (const wake of [...this.#sleepers]) wake();
  }
}
