/** `npm run bench -- [flags]` → what to run and how big. Pure. */
import { parseArgs } from 'node:util';

export const SUITES = ['micro', 'drain', 'live', 'outage', 'grafana', 'fleet'] as const;
export type Suite = (typeof SUITES)[number];

export interface BenchOptions {
  readonly quick: boolean;
  readonly suites: readonly Suite[];
  readonly paths: readonly ('v1' | 'v2')[];
  /** Drain: messages in the backlog, and repetitions (median and spread). */
  readonly messages: number;
  readonly runs: number;
  /** Live and outage: messages per second and seconds. */
  readonly rate: number;
  readonly liveS: number;
  readonly outageBeforeS: number;
  readonly outageS: number;
  readonly outageAfterS: number;
  readonly microMessages: number;
  /** Drain: write a CPU profile of each ingestor run to this folder. */
  readonly profileDir: string | undefined;
  /** Grafana cost: fleet sizes, hours of history, and timed runs of each query. */
  readonly grafanaDevices: readonly number[];
  readonly grafanaHours: number;
  readonly grafanaRuns: number;
}

export const USAGE = `Usage: npm run bench -- [options]

  --quick              smaller and shorter (under two minutes): CI and a first look
  --only LIST          some of: ${SUITES.join(',')} (default: all)
  --paths LIST         drain write paths: v1 (InfluxDB 1.x), v2 (VictoriaMetrics) (default: v1,v2)
  --messages N         drain backlog size (default 400000; quick 40000)
  --runs N             drain repetitions (default 3; quick 2)
  --rate N             live and outage load, messages/s (default 20000; quick 5000)
  --live-s S           live load duration (default 60; quick 15)
  --outage-s S         InfluxDB down for S seconds (default 30; quick 10)
  --profile DIR        drain: write the ingestor's CPU profiles (node --cpu-prof) to DIR
  --devices LIST       grafana and fleet: fleet sizes loaded into InfluxDB (default 1000,10000; quick 200)
  --hours H            grafana: hours of history, telemetry every 10 s (default 6; quick 1)
  --query-runs N       grafana: timed runs of each rule and panel query (default 5; quick 3)
`;

export class UsageError extends Error {}

function count(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected a whole number of at least ${min}`);
  return value;
}

function list<T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): readonly T[] {
  if (raw === undefined) return allowed;
  const items = raw.split(',').map((item) => item.trim());
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected some of ${allowed.join(',')}`);
  }
  return items as T[];
}

export function parseBenchOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      paths: { type: 'string' },
      messages: { type: 'string' },
      runs: { type: 'string' },
      rate: { type: 'string' },
      'live-s': { type: 'string' },
      'outage-s': { type: 'string' },
      profile: { type: 'string' },
      devices: { type: 'string' },
      hours: { type: 'string' },
      'query-runs': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick;
  return {
    quick,
    suites: list('only', values.only, SUITES),
    paths: list('paths', values.paths, ['v1', 'v2'] as const),
    messages: count('messages', values.messages, quick ? 40_000 : 400_000, 1000),
    runs: count('runs', values.runs, quick ? 2 : 3, 1),
    rate: count('rate', values.rate, quick ? 5000 : 20_000, 1),
    liveS: count('live-s', values['live-s'], quick ? 15 : 60, 1),
    outageBeforeS: quick ? 5 : 10,
    outageS: count('outage-s', values['outage-s'], quick ? 10 : 30, 1),
    outageAfterS: quick ? 10 : 30,
    microMessages: quick ? 20_000 : 100_000,
    profileDir: values.profile,
    grafanaDevices: values.devices === undefined ? (quick ? [200] : [1000, 10_000]) : values.devices.split(',').map((item) => count('devices', item.trim(), 0, 1)),
    grafanaHours: count('hours', values.hours, quick ? 1 : 6, 1),
    grafanaRuns: count('query-runs', values['query-runs'], quick ? 3 : 5, 1),
  };
}
