/**
 * Issue 24 at fleet scale, on InfluxDB 1.x (`npm run bench -- --only fleet
 * --devices 10000,100000`): N devices in 20 locations reporting every 10 s,
 * 1 % with a reading out of range. Seeded straight into a fresh InfluxDB as
 * the ingestor writes it: the per-minute rollups (`telemetry_1m`,
 * `telemetry_location_1m`, the heartbeat; ingestor/rollups/) for the last
 * hour, and raw `telemetry` for the last 10 minutes (what the old reading
 * rules read). Then each reading rule's InfluxQL, now and as it was, timed
 * as Grafana sends it (rendered by test/harness/grafana-eval.ts), with the
 * series it hands to Grafana; and the rollup queries the dashboards' time
 * and location aggregates can use, over one hour.
 *
 * Not here: `device_state` / `device_trouble` and every dashboard panel at
 * its defaults, timed by bench/suites/grafana.ts (`--only grafana`).
 * The ingestor's own figures at fleet scale, and the device rules on what
 * it writes, come from bench/suites/fleet-ingestor.ts, which bench/run.ts
 * runs after this suite under the same `--only fleet`.
 */
import { ruleGroups } from '../../grafana/src/alert-rules.ts';
import { loadThresholds } from '../../grafana/src/thresholds.ts';
import { renderMacros } from '../../test/harness/grafana-eval.ts';
import { startInflux1 } from '../../test/harness/services.ts';
import { loadLines } from '../lib/line-loader.ts';
import { timeQuery } from '../lib/query-timing.ts';
import type { Summary } from '../lib/stats.ts';

const DB = 'iot';
const MINUTE = 60_000;
const LOCATIONS = 20;
const GROUPS = ['production', 'gateways', 'lab'] as const;
const BATCH_LINES = 50_000;
const ROLLUP_MINUTES = 60;
const RAW_MINUTES = 10;

export interface FleetQueryTiming {
  readonly what: string;
  readonly ms: Summary;
  readonly series: number;
}

export interface FleetResult {
  readonly devices: number;
  readonly points: number;
  readonly loadSeconds: number;
  readonly queries: FleetQueryTiming[];
}

export interface FleetOptions {
  readonly devices: number;
  readonly runs: number;
  readonly log: (line: string) => void;
}

function place(i: number): string {
  const group = GROUPS[i % GROUPS.length] as string;
  return `device=dev-${String(i).padStart(6, '0')},group=${group},location=site-${i % LOCATIONS}`;
}

/** 1 % of devices out of range: too hot, too humid, battery low, in turn. */
function readingsOf(i: number): { temperature: number; humidity: number; battery: number } {
  const odd = i % 100 === 42 ? Math.floor(i / 100) % 3 : -1;
  return { temperature: odd === 0 ? 45 : 21 + (i % 7) * 0.5, humidity: odd === 1 ? 95 : 50, battery: odd === 2 ? 9 : 90 - (i % 60) };
}

function* seed(devices: number, now: number): Generator<string[]> {
  let batch: string[] = [];
  const flush = function* (): Generator<string[]> {
    if (batch.length >= BATCH_LINES) {
      yield batch;
      batch = [];
    }
  };
  for (let m = now - ROLLUP_MINUTES * MINUTE; m < now; m += MINUTE) {
    batch.push(`telemetry_1m,instance=ingestor-1 devices=${devices}i ${m}`);
    const perPlace = new Map<string, { temperature: number[]; count: number }>();
    for (let i = 0; i < devices; i += 1) {
      const r = readingsOf(i);
      const fields = Object.entries(r).map(([f, v]) => `${f}_min=${v},${f}_max=${v},${f}_sum=${v * 6},${f}_count=6i`).join(',');
      batch.push(`telemetry_1m,${place(i)},instance=ingestor-1 ${fields} ${m}`);
      const key = `group=${GROUPS[i % GROUPS.length]},location=site-${i % LOCATIONS}`;
      const agg = perPlace.get(key) ?? { temperature: [Infinity, -Infinity, 0], count: 0 };
      agg.temperature = [Math.min(agg.temperature[0] as number, r.temperature), Math.max(agg.temperature[1] as number, r.temperature), (agg.temperature[2] as number) + 6 * r.temperature];
      agg.count += 6;
      perPlace.set(key, agg);
      yield* flush();
    }
    for (const [key, agg] of perPlace) batch.push(`telemetry_location_1m,${key},instance=ingestor-1 temperature_min=${agg.temperature[0]},temperature_max=${agg.temperature[1]},temperature_sum=${agg.temperature[2]},temperature_count=${agg.count}i ${m}`);
  }
  for (let t = now - RAW_MINUTES * MINUTE; t < now; t += 10_000) {
    for (let i = 0; i < devices; i += 1) {
      const r = readingsOf(i);
      batch.push(`telemetry,${place(i)} temperature=${r.temperature},humidity=${r.humidity},battery=${r.battery} ${t}`);
      yield* flush();
    }
  }
  if (batch.length > 0) yield batch;
}


/** The reading rules as they were before the rollups (raw telemetry), for comparison. */
const OLD_READING_RULES = [
  { what: 'old rule Temperature out of range (raw, 5 min)', fromS: 300, query: 'SELECT mean("temperature") FROM "telemetry" WHERE $timeFilter GROUP BY "device", "location", "group"' },
  { what: 'old rule Humidity out of range (raw, 5 min)', fromS: 300, query: 'SELECT mean("humidity") FROM "telemetry" WHERE $timeFilter GROUP BY "device", "location", "group"' },
];

/**
 * The floor of the reading rules' design on InfluxDB 1.6: one level, a field
 * condition that keeps only minutes out of range (so the output series are
 * the candidates only). Not the rule (a minute out of range is not a
 * 5-minute mean out of range), timed to show what the two-level query's
 * 10,000 intermediate series cost.
 */
const FLOOR_QUERIES = [
  { what: 'floor: minutes out of range only, one level (temperature, 5 min)', fromS: 300, query: 'SELECT max("temperature_max"), min("temperature_min") FROM "telemetry_1m" WHERE $timeFilter AND ("temperature_max" > 40 OR "temperature_min" < 0) GROUP BY "device", "location", "group"' },
];

/** Aggregates over time and location over the rollups, one hour, as the dashboards can read them. */
const ROLLUP_PANELS = [
  { what: 'rollups: temperature per location min/mean/max, 1 h, 1 min steps', query: 'SELECT min("temperature_min") AS "min", sum("temperature_sum") / sum("temperature_count") AS "mean", max("temperature_max") AS "max" FROM "telemetry_location_1m" WHERE $timeFilter GROUP BY time(1m), "location" fill(none)' },
  { what: 'rollups: min/mean/max per device, 1 h, every device', query: 'SELECT min("temperature_min") AS "tmin", sum("temperature_sum") / sum("temperature_count") AS "tmean", max("temperature_max") AS "tmax" FROM "telemetry_1m" WHERE $timeFilter GROUP BY "device", "location"' },
  { what: 'rollups: one device\'s temperature, 1 h', query: 'SELECT sum("temperature_sum") / sum("temperature_count") FROM "telemetry_1m" WHERE $timeFilter AND "device" = \'dev-000001\' GROUP BY time(1m) fill(none)' },
];

export async function benchFleet(options: FleetOptions): Promise<FleetResult> {
  const { devices, runs, log } = options;
  const influx = await startInflux1();
  try {
    await influx.query(`CREATE DATABASE ${DB}`);
    const now = Math.floor(Date.now() / MINUTE) * MINUTE;
    log(`fleet: ${devices} devices: loading ${ROLLUP_MINUTES} min of rollups and ${RAW_MINUTES} min of raw telemetry`);
    const started = Date.now();
    const points = await loadLines(influx, DB, seed(devices, now));
    const loadSeconds = Math.round((Date.now() - started) / 1000);
    log(`fleet: ${points.toLocaleString('en-US')} points in ${loadSeconds} s; timing queries`);
    const at = now + 1000;
    const queries: FleetQueryTiming[] = [];
    const run = async (what: string, query: string, fromS: number): Promise<void> => {
      const timing = await timeQuery(influx, DB, renderMacros(query, at - fromS * 1000, at, 60_000), runs);
      queries.push({ what, ...timing });
      log(`fleet: ${devices} devices: ${what}: ${timing.ms.median} ms, ${timing.series} series`);
    };
    const readingRules = ruleGroups(loadThresholds()).flatMap((g) => g.rules).filter((r) => /out of range|Battery/.test(r.title));
    for (const rule of readingRules) {
      for (const d of rule.data.filter((q) => q.datasourceUid !== '__expr__')) await run(`rule ${rule.title} / ${d.refId}`, String(d.model.query), d.relativeTimeRange.from);
    }
    for (const old of [...OLD_READING_RULES, ...FLOOR_QUERIES]) await run(old.what, old.query, old.fromS);
    for (const panel of ROLLUP_PANELS) await run(panel.what, panel.query, 3600);
    return { devices, points, loadSeconds, queries };
  } finally {
    await influx.stop();
  }
}
