/**
 * INFLUX_RETENTION: how long InfluxDB keeps data. Written as InfluxDB writes
 * durations (`30d`, `12h`, `2w`), or `0` / `infinite` to keep everything.
 * The same text goes to DOCKER_INFLUXDB_INIT_RETENTION (compose) and to
 * `npm run setup`, which checks the bucket (v2) or retention policy (v1). Pure.
 */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;

/** InfluxDB refuses retention periods shorter than one hour. */
export const MIN_RETENTION_SECONDS = 3600;

export class RetentionError extends Error {
  override readonly name = 'RetentionError';
}

/** Seconds, 0 for infinite. */
export function parseRetention(text: string): number {
  const raw = text.trim();
  if (raw === '0' || raw === 'infinite' || raw === 'INF') return 0;
  const match = /^(\d+)([smhdw])$/.exec(raw);
  if (match === null) throw new RetentionError(`expected a duration such as 30d, 12h or 2w, or 0 for infinite`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  if (seconds === 0) return 0;
  if (seconds < MIN_RETENTION_SECONDS) throw new RetentionError(`expected at least 1h (InfluxDB's shortest retention), or 0 for infinite`);
  return seconds;
}

/** 2592000 → "30d"; 0 → "infinite". */
export function formatRetention(seconds: number): string {
  if (seconds === 0) return 'infinite';
  for (const [unit, size] of [['w', 604_800], ['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** InfluxQL duration literal for CREATE/ALTER RETENTION POLICY (1.x): `INF` or `720h`. */
export function influxqlDuration(seconds: number): string {
  if (seconds === 0) return 'INF';
  return seconds % 3600 === 0 ? `${seconds / 3600}h` : `${seconds}s`;
}

/** InfluxDB 1.x SHOW RETENTION POLICIES durations (`720h0m0s`, `0s`) → seconds. */
export function parseGoDuration(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (match === null || text === '') throw new RetentionError(`unexpected duration ${JSON.stringify(text)} from InfluxDB`);
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}
