/** Summaries of repeated measurements. Pure. */

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

/** The q-quantile (0..1) by linear interpolation between closest ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const low = sorted[lower] as number;
  return low + ((sorted[upper] as number) - low) * (position - lower);
}

export function summarize(values: readonly number[]): Summary {
  return { median: quantile(values, 0.5), min: Math.min(...values), max: Math.max(...values), runs: values.length };
}

/** Rounds to `digits` decimals (results stay readable in JSON). */
export const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** "61,200 (58,000–64,100)": the median and the spread, for tables. */
export function formatSummary(summary: Summary, digits = 0, unit = ''): string {
  const format = (value: number): string => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  if (summary.runs <= 1 || summary.min === summary.max) return `${format(summary.median)}${unit}`;
  return `${format(summary.median)}${unit} (${format(summary.min)}–${format(summary.max)})`;
}

/**
 * When a counter first rose above `from` and first reached `to`, from samples
 * taken every few ms: the midpoint of the interval in which it happened, so
 * the error is at most half a sampling interval.
 */
export function crossingTimes(samples: readonly { readonly atMs: number; readonly value: number }[], from: number, to: number): { startMs: number; endMs: number } | undefined {
  let startMs: number | undefined;
  let previous: { atMs: number; value: number } | undefined;
  for (const sample of samples) {
    if (startMs === undefined && sample.value > from) startMs = previous === undefined ? sample.atMs : (previous.atMs + sample.atMs) / 2;
    if (startMs !== undefined && sample.value >= to) {
      return { startMs, endMs: previous === undefined ? sample.atMs : (previous.atMs + sample.atMs) / 2 };
    }
    previous = sample;
  }
  return undefined;
}
