/**
 * Unplanned trouble, as real fleets have it: a device drops off without a
 * clean disconnect (its last will fires) and comes back later, restarts
 * cleanly, gets a stuck sensor, reports a spike or an out-of-range value, or
 * stays connected but silent. Pure: a seeded random source decides.
 */
export type ChurnKind = 'drop' | 'restart' | 'stuck' | 'spike' | 'out_of_range' | 'silent';

/** Relative weights: drops and restarts are the common case. */
const KINDS: readonly [ChurnKind, number][] = [['drop', 30], ['restart', 20], ['stuck', 15], ['spike', 15], ['out_of_range', 10], ['silent', 10]];
const TOTAL_WEIGHT = KINDS.reduce((sum, [, weight]) => sum + weight, 0);

/** Whether a device meets trouble during `elapsedMs`, at `perHour` events per device-hour, and which. */
export function nextChurn(random: () => number, perHour: number, elapsedMs: number): ChurnKind | undefined {
  if (perHour <= 0 || random() >= (perHour * elapsedMs) / 3_600_000) return undefined;
  let pick = random() * TOTAL_WEIGHT;
  for (const [kind, weight] of KINDS) {
    pick -= weight;
    if (pick < 0) return kind;
  }
  return 'drop';
}

/** How long trouble lasts: 30 s to 5 min, seeded. */
export function churnDurationMs(random: () => number): number {
  return Math.round(30_000 + random() * 270_000);
}
