/**
 * Load mode's devices in trouble on cue (`--offline-share`, `--silent-share`,
 * `--trouble-at`). Pure: which devices, by their index in the fleet. The
 * first `offline` devices go offline, the next `silent` fall silent, so the
 * same seed and shares always pick the same devices and the figures of a
 * run can be checked against the ids (dev-001 …).
 */
export interface TroublePlan {
  /** Devices 0 … offline-1: a retained "offline" status at the cue, then nothing. */
  readonly offline: number;
  /** Devices offline … offline+silent-1: nothing more from the cue on. */
  readonly silent: number;
}

export function troublePlan(devices: number, offlineShare: number, silentShare: number): TroublePlan {
  const offline = Math.round(devices * offlineShare);
  return { offline, silent: Math.min(devices - offline, Math.round(devices * silentShare)) };
}

/** The device's trouble once the cue has passed, or undefined. */
export function troubleOf(index: number, plan: TroublePlan): 'offline' | 'silent' | undefined {
  if (index < plan.offline) return 'offline';
  if (index < plan.offline + plan.silent) return 'silent';
  return undefined;
}
