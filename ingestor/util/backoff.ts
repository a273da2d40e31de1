/**
 * Capped exponential backoff with full jitter: attempt n waits a random time
 * in [base·2ⁿ/2, base·2ⁿ], capped. Jitter keeps a fleet of ingestors from
 * hammering a recovering InfluxDB (writer/delivery.ts) or MQTT broker
 * (sources/mqtt.ts) in lockstep. Pure given `random`.
 */
export interface BackoffOptions {
  /** The first attempt's ceiling. */
  readonly baseMs: number;
  /** The longest wait, at least baseMs. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

export function backoffDelayMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
