/**
 * What the alert rules and the dashboards cost InfluxDB: N devices of
 * history loaded straight into a fresh InfluxDB 1.x as the ingestor writes
 * it (telemetry every 10 s, its per-minute rollups, device_state and
 * device_trouble every 60 s, a few presence events, ingestor_stats every
 * 10 s), then every rule's InfluxQL, and every variable and panel of the four
 * dashboards at their saved defaults and default range, timed as Grafana would send it
 * (rendered by test/harness/grafana-eval.ts), median of several runs. The old
 * presence-based rules' queries (before device_state) are timed too, for
 * comparison.
 *
 * Loading: line protocol generated slice by slice in time order, written
 * by bench/lib/line-loader.ts: memory stays at a few batches whatever N.
 */
import { ruleGroups } from '../../grafana/src/alert-rules.ts';
import { dashboards } from '../../grafana/src/dashboards.ts';
import { loadThresholds } from '../../grafana/src/thresholds.ts';
import { defaultVariables, renderMacros, renderPanelQuery, runInfluxQL, type VariableValue } from '../../test/harness/grafana-eval.ts';
import { startInflux1, type Influx1 } from '../../test/harness/services.ts';
import { loadLines } from '../lib/line-loader.ts';
import { timeQuery } from '../lib/query-timing.ts';
import type { Summary } from '../lib/stats.ts';

const DB = 'iot';

export interface QueryTiming {
  /** "rule <title> / <refId>" or "panel <title> / <refId>" or "old rule …". */
  readonly what: string;
  readonly ms: Summary;
  readonly series: number;
}

export interface GrafanaCostResult {
  readonly devices: number;
  readonly hours: number;
  readonly points: number;
  readonly loadSeconds: number;
  readonly pointsPerSecond: number;
  readonly queries: QueryTiming[];
  /** Per rule: the sum of its queries' medians (one evaluation). */
  readonly rules: { readonly title: string; readonly ms: number }[];
}

export interface GrafanaCostOptions {
  readonly devices: number;
  readonly hours: number;
  readonly runs: number;
  readonly log: (line: string) => void;
}

const LOCATIONS = 20;
const GROUPS = ['production', 'gateways', 'lab'] as const;
const TELEMETRY_STEP_MS = 10_000;
const STATE_STEP_MS = 60_000;
const BATCH_LINES = 50_000;

/** Device i's place: 5 % without a group, like devices missing from the registry. */
function place(i: number): { device: string; tags: string } {
  const device = `dev-${String(i).padStart(5, '0')}`;
  const location = `site-${i % LOCATIONS}`;
  const group = i % 20 === 7 ? undefined : GROUPS[i % GROUPS.length];
  return { device, tags: `device=${device}${group === undefined ? '' : `,group=${group}`},location=${location}` };
}

const FIELDS = ['temperature', 'humidity', 'battery', 'rssi'] as const;

function readings(i: number, t: number): Record<(typeof FIELDS)[number], number> {
  const wave = Math.sin((t / 3_600_000 + i) * 0.7);
  return { temperature: Number((21 + 4 * wave).toFixed(2)), humidity: Number((50 + 10 * wave).toFixed(1)), battery: 90 - (i % 80), rssi: -60 - (i % 30) };
}

/** `f_min,f_max,f_sum,f_count` of six equal readings a minute: the shape of the ingestor's rollups (ingestor/rollups/). */
const rollupFields = (r: Record<string, number>, count: number): string =>
  Object.entries(r).map(([f, v]) => `${f}_min=${v},${f}_max=${v},${f}_sum=${Number((v * count).toFixed(2))},${f}_count=${count}i`).join(',');

/** Every line of the history, in time order, in batches. */
export function* history(devices: number, fromMs: number, toMs: number): Generator<string[]> {
  let batch: string[] = [];
  // Devices per (location, group), for telemetry_location_1m.
  const places = new Map<string, number>();
  for (let i = 0; i < devices; i += 1) {
    const group = i % 20 === 7 ? undefined : GROUPS[i % GROUPS.length];
    const key = `${group === undefined ? '' : `group=${group},`}location=site-${i % LOCATIONS}`;
    places.set(key, (places.get(key) ?? 0) + 1);
  }
  const offlineFrom = toMs - 3_600_000; // 2 % of devices went offline an hour ago and stayed silent
  const isDead = (i: number) => i % 50 === 3;
  for (let i = 0; i < devices; i += 1) {
    const { tags } = place(i);
    batch.push(`device_presence,${tags},source=emqx online=1i,event="connected",reason="",ip="127.0.0.1" ${fromMs + (i % 60) * 1000}`);
    if (isDead(i)) batch.push(`device_presence,${tags},source=lwt online=0i,event="disconnected",reason="last will",ip="" ${offlineFrom}`);
  }
  for (let t = fromMs; t <= toMs; t += TELEMETRY_STEP_MS) {
    batch.push(`ingestor_stats,instance=ingestor-1 messages_in=${Math.floor((t - fromMs) / 10)}i,points_written=${Math.floor((t - fromMs) / 10)}i,write_retries=0i,mqtt_connected=1i,backlog_bytes=0i,wal_bytes=1048576i,points_rejected_by_influx=0i,catching_up=0i ${t}`);
    if ((t - fromMs) % STATE_STEP_MS === 0) {
      batch.push(`device_trouble,instance=ingestor-1 online=1i,offline_s=0i,silent_s=0i,devices=${devices}i,in_trouble=${Math.ceil(devices / 50)}i ${t}`);
      if (t > fromMs) {
        batch.push(`telemetry_1m,instance=ingestor-1 devices=${devices}i ${t - STATE_STEP_MS}`);
        for (const [key, count] of places) batch.push(`telemetry_location_1m,${key},instance=ingestor-1 ${rollupFields(readings(0, t), 6 * count)} ${t - STATE_STEP_MS}`);
      }
    }
    for (let i = 0; i < devices; i += 1) {
      const dead = isDead(i) && t > offlineFrom;
      if (dead && (t - fromMs) % STATE_STEP_MS !== 0) continue;
      const { tags } = place(i);
      const r = readings(i, t);
      // A dead device sends nothing; the ingestor keeps writing its device_state and device_trouble.
      if (!dead) batch.push(`telemetry,${tags} ${FIELDS.map((f) => `${f}=${r[f]}`).join(',')} ${t}`);
      if ((t - fromMs) % STATE_STEP_MS === 0) {
        // The minute that just ended, as the ingestor rolls it up (written at the minute's start).
        if (t > fromMs && !dead) batch.push(`telemetry_1m,${tags},instance=ingestor-1 ${rollupFields(r, 6)} ${t - STATE_STEP_MS}`);
        if (dead) batch.push(`device_trouble,${tags},instance=ingestor-1 state="offline",online=0i,offline_s=${Math.floor((t - offlineFrom) / 1000)}i,silent_s=${Math.floor((t - offlineFrom) / 1000)}i,last_seen=${offlineFrom}i,since=${offlineFrom}i ${t}`);
        const lastSeen = dead ? offlineFrom : t;
        const since = dead ? offlineFrom : fromMs + (i % 60) * 1000;
        batch.push(`device_state,${tags},instance=ingestor-1 state="${dead ? 'offline' : 'online'}",online=${dead ? 0 : 1}i,offline_s=${dead ? Math.floor((t - offlineFrom) / 1000) : 0}i,silent_s=${Math.floor((t - lastSeen) / 1000)}i,last_seen=${lastSeen}i,since=${since}i,source="${dead ? 'lwt' : 'emqx'}" ${t}`);
      }
      if (batch.length >= BATCH_LINES) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

async function load(influx: Influx1, devices: number, fromMs: number, toMs: number, log: (line: string) => void): Promise<number> {
  let nextLog = Date.now() + 15_000;
  return loadLines(influx, DB, history(devices, fromMs, toMs), (points) => {
    if (Date.now() < nextLog) return;
    log(`grafana cost: ${devices} devices: ${points.toLocaleString('en-US')} points loaded`);
    nextLog = Date.now() + 15_000;
  });
}

/** The old presence-based rules (before device_state), as they were provisioned, for comparison. */
const OLD_RULES: readonly { title: string; queries: readonly { refId: string; fromS: number; query: string; intervalMs: number }[] }[] = [
  {
    title: 'old: Device offline (30 d presence lookback)',
    queries: [
      { refId: 'A', fromS: 30 * 86_400, intervalMs: 60_000, query: 'SELECT last("online") FROM "device_presence" WHERE $timeFilter GROUP BY "device"' },
      { refId: 'B', fromS: 30 * 86_400, intervalMs: 60_000, query: 'SELECT last("online") FROM "device_presence" WHERE $timeFilter GROUP BY "device", "location", "group"' },
    ],
  },
  {
    title: 'old: Device online but silent (6 h of telemetry)',
    queries: [
      { refId: 'A', fromS: 6 * 3600, intervalMs: 60_000, query: 'SELECT moving_average(count("temperature"), 10) FROM "telemetry" WHERE $timeFilter GROUP BY time(1m), "device" fill(0)' },
      { refId: 'B', fromS: 30 * 86_400, intervalMs: 60_000, query: 'SELECT last("online") FROM "device_presence" WHERE $timeFilter GROUP BY "device"' },
      { refId: 'C', fromS: 30 * 86_400, intervalMs: 60_000, query: 'SELECT last("online") FROM "device_presence" WHERE $timeFilter GROUP BY "device", "location", "group"' },
    ],
  },
];

export async function benchGrafanaCost(options: GrafanaCostOptions): Promise<GrafanaCostResult> {
  const { devices, hours, runs, log } = options;
  const influx = await startInflux1();
  try {
    await influx.query(`CREATE DATABASE ${DB}`);
    const now = Math.floor(Date.now() / STATE_STEP_MS) * STATE_STEP_MS;
    const fromMs = now - hours * 3_600_000;
    log(`grafana cost: ${devices} devices × ${hours} h: loading`);
    const started = Date.now();
    const points = await load(influx, devices, fromMs, now, log);
    const loadSeconds = (Date.now() - started) / 1000;
    log(`grafana cost: ${points.toLocaleString('en-US')} points in ${loadSeconds.toFixed(0)} s; timing queries`);

    // Rules and panels are evaluated at the end of the loaded history.
    const evaluatedAt = now + 1000;
    const thresholds = loadThresholds();
    const queries: QueryTiming[] = [];
    const rules: { title: string; ms: number }[] = [];
    const timeRule = async (title: string, list: readonly { refId: string; fromS: number; query: string; intervalMs: number }[], ruleRuns = runs) => {
      let total = 0;
      for (const q of list) {
        const rendered = renderMacros(q.query, evaluatedAt - q.fromS * 1000, evaluatedAt, q.intervalMs);
        const timing = await timeQuery(influx, DB, rendered, ruleRuns);
        queries.push({ what: `rule ${title} / ${q.refId}`, ...timing });
        total += timing.ms.median;
      }
      rules.push({ title, ms: Math.round(total * 10) / 10 });
      log(`grafana cost: ${devices} devices: rule ${title}: ${total.toFixed(1)} ms`);
    };
    for (const rule of ruleGroups(thresholds).flatMap((g) => g.rules)) {
      const list = rule.data.filter((d) => d.datasourceUid !== '__expr__').map((d) => ({
        refId: d.refId, fromS: d.relativeTimeRange.from, query: String(d.model.query), intervalMs: Number(d.model.intervalMs ?? 1000),
      }));
      await timeRule(rule.title, list);
    }
    // The old silence rule takes seconds per run at thousands of devices: one timed run there.
    for (const old of OLD_RULES) await timeRule(old.title, old.queries, devices > 2000 ? 1 : runs);

    // Every dashboard at its saved defaults: its default range (now-6h), each
    // variable as Grafana resolves it on load (All, or the first device).
    for (const board of dashboards(thresholds)) {
      const range = { fromMs: evaluatedAt - 6 * 3_600_000, toMs: evaluatedAt, minIntervalMs: 10_000 };
      const variables = await defaultVariables(board.templating.list, range, async (name, rendered) => {
        const timing = await timeQuery(influx, DB, rendered, runs);
        queries.push({ what: `${board.title}: variable ${name}`, ...timing });
        log(`grafana cost: ${devices} devices: ${board.title}: variable ${name}: ${timing.ms.median} ms`);
        return runInfluxQL(influx.url, DB, rendered);
      });
      for (const panel of board.panels) {
        for (const target of panel.targets) {
          const timing = await timeQuery(influx, DB, renderPanelQuery(target.query, { ...range, variables }), runs);
          queries.push({ what: `${board.title}: panel ${panel.title} / ${target.refId}`, ...timing });
          log(`grafana cost: ${devices} devices: ${board.title}: panel ${panel.title}: ${timing.ms.median} ms, ${timing.series} series`);
        }
      }
    }
    // For comparison: what the old defaults cost, and the alternatives not taken.
    const all: VariableValue = { values: [], all: true, allValue: '.*' };
    const one: VariableValue = { values: ['dev-00000'] };
    const compare = [
      { what: 'before: Temperature per device, Device All (raw, 6 h)', query: 'SELECT mean("temperature") FROM "telemetry" WHERE $timeFilter AND "location" =~ /^$location$/ AND "group" =~ /^$group$/ AND "device" =~ /^$device$/ GROUP BY time($__interval), "device" fill(none)', device: all },
      { what: 'before: Readings in range (count of raw telemetry, 6 h)', query: 'SELECT count("temperature") AS "readings" FROM "telemetry" WHERE $timeFilter AND "location" =~ /^$location$/ AND "group" =~ /^$group$/ AND "device" =~ /^$device$/', device: all },
      { what: 'not taken: Readings in range from telemetry_1m (per device rollups, 6 h)', query: 'SELECT sum("temperature_count") AS "readings" FROM "telemetry_1m" WHERE $timeFilter AND "location" =~ /^$location$/ AND "group" =~ /^$group$/ AND "device" =~ /^$device$/', device: all },
      { what: 'not taken: Min / mean / max of the picked device from raw telemetry (6 h)', query: 'SELECT min("temperature"), mean("temperature"), max("temperature"), min("humidity"), max("humidity"), min("battery") FROM "telemetry" WHERE $timeFilter AND "device" =~ /^$device$/ GROUP BY "device", "location"', device: one },
      { what: 'not taken: Device variable without LIMIT', query: 'SHOW TAG VALUES FROM "device_state" WITH KEY = "device" WHERE "location" =~ /^$location$/ AND "group" =~ /^$group$/', device: all },
    ];
    for (const c of compare) {
      const timing = await timeQuery(influx, DB, renderPanelQuery(c.query, { fromMs: evaluatedAt - 6 * 3_600_000, toMs: evaluatedAt, minIntervalMs: 10_000, variables: { location: all, group: all, device: c.device } }), devices > 2000 ? 1 : runs);
      queries.push({ what: c.what, ...timing });
      log(`grafana cost: ${devices} devices: ${c.what}: ${timing.ms.median} ms`);
    }
    return { devices, hours, points, loadSeconds: Math.round(loadSeconds), pointsPerSecond: Math.round(points / loadSeconds), queries, rules };
  } finally {
    await influx.stop();
  }
}
