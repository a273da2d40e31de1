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
 * | throttled      | wait max(backoff, Retry-After), retry                       |
 * | server_error   | capped exponential backoff with jitter, retry forever       |
 * | network_error  | same                                                        |
 * | misconfigured  | one clear log line per streak, retry slowly, keep the data  |
 */
import type { Logger } from 'pino';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import type { SendLines } from './influx-http.ts';
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
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Delivery {
  readonly #options: DeliveryOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  #loggedMisconfiguration = false;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#sleep = options.sleep ?? defaultSleep;
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
    }
  }

  /** Sends until the outcome is final for these lines (written, too large, rejected). */
  async #sendUntilDecided(lines: readonly string[]): Promise<Extract<WriteOutcome, { kind: 'written' | 'too_large' | 'rejected' }>> {
    const backoff = this.#options.backoff ?? DEFAULT_BACKOFF;
    for (let attempt = 0; ; attempt += 1) {
      const outcome = await this.#options.send(lines);
      let delayMs: number;
      switch (outcome.kind) {
        case 'written':
          this.#noteRecovered();
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
          delayMs = this.#options.misconfiguredRetryMs ?? 30_000;
          this.#noteMisconfigured(outcome.status, outcome.message);
          break;
      }
      this.#options.events.retrying(outcome, delayMs);
      await this.#sleep(delayMs);
    }
  }

  #noteMisconfigured(status: number, message: string): void {
    if (this.#loggedMisconfiguration) return;
    this.#loggedMisconfiguration = true;
    this.#options.log.error(
      { status, error: message },
      `InfluxDB refused the write (HTTP ${status}): ${misconfigurationHint(status)}; keeping the data and retrying every ${Math.round((this.#options.misconfiguredRetryMs ?? 30_000) / 1000)} s`,
    );
  }

  #noteRecovered(): void {
    if (!this.#loggedMisconfiguration) return;
    this.#loggedMisconfiguration = false;
    this.#options.log.info('InfluxDB accepts writes again');
  }
}
