/**
 * Whether InfluxDB takes our writes, and since when it has not. Fed by the
 * delivery policy (every request's outcome); read by /readyz, /metrics and
 * shutdown (which need not wait for an InfluxDB known to be unreachable:
 * the write-ahead log keeps the data).
 */
import type { WriteOutcome } from './outcome.ts';

export type FailedOutcome = Exclude<WriteOutcome, { kind: 'written' | 'too_large' | 'rejected' | 'partial' }>;

export type InfluxState =
  /** No write has been tried yet. */
  | { readonly kind: 'unknown' }
  | { readonly kind: 'writing'; readonly sinceMs: number }
  /** Every request fails (no answer, a TLS problem, 5xx, throttled, or our configuration refused) since `sinceMs`. */
  | { readonly kind: 'failing'; readonly sinceMs: number; readonly outcome: FailedOutcome['kind']; readonly error: string };

export class InfluxHealth {
  readonly #now: () => number;
  #state: InfluxState = { kind: 'unknown' };
  #failingWaiters: (() => void)[] = [];

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get state(): InfluxState {
    return this.#state;
  }

  /** A request was answered 2xx. Returns the state it ends, if it ends one. */
  written(): InfluxState | undefined {
    if (this.#state.kind === 'writing') return undefined;
    const previous = this.#state;
    this.#state = { kind: 'writing', sinceMs: this.#now() };
    return previous;
  }

  /** A request failed in a way that will be retried. Returns true when this starts (or changes the kind of) a failing streak. */
  failed(outcome: FailedOutcome): boolean {
    const previous = this.#state;
    // A different TLS problem (expired → wrong host) is news too: its line names another fix.
    if (previous.kind === 'failing' && previous.outcome === outcome.kind && (outcome.kind !== 'tls_error' || previous.error === outcome.message)) return false;
    this.#state = {
      kind: 'failing',
      sinceMs: previous.kind === 'failing' ? previous.sinceMs : this.#now(),
      outcome: outcome.kind,
      error: outcome.message,
    };
    for (const resolve of this.#failingWaiters.splice(0)) resolve();
    return true;
  }

  /** Resolves once InfluxDB is failing (at once if it is now). */
  whenFailing(): Promise<void> {
    if (this.#state.kind === 'failing') return Promise.resolve();
    return new Promise((resolve) => this.#failingWaiters.push(resolve));
  }
}

/** One sentence for /readyz and the logs. Pure. */
export function describeInfluxState(state: InfluxState, target: string): string | undefined {
  if (state.kind !== 'failing') return undefined;
  const what = state.outcome === 'tls_error' ? 'not trusted' : state.outcome === 'network_error' || state.outcome === 'server_error' ? 'unreachable' : 'refusing writes';
  return `InfluxDB ${what} since ${new Date(state.sinceMs).toISOString()} (${target}: ${state.outcome}: ${state.error}); the write-ahead log keeps the data`;
}
