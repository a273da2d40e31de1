/** A result file → the markdown table for docs/performance.md. Pure. */
import type { BenchResults } from './results.ts';
import { formatSummary } from '../lib/stats.ts';

const n = (value: number): string => value.toLocaleString('en-US');

export function resultsTable(results: BenchResults): string {
  const rows: [string, string][] = [];
  for (const drain of results.drain) {
    const target = drain.path === 'v1' ? 'InfluxDB 1.x (v1)' : 'VictoriaMetrics (v2)';
    const what = `${n(drain.messages)} queued msgs → ${target}`;
    rows.push([`drain, ${what}: bare mqtt.js client, msg/s`, formatSummary(drain.bareRate)]);
    rows.push([`drain, ${what}: ingestor, msg/s (first taken → last written)`, formatSummary(drain.ingestorRate)]);
    rows.push([`drain, ${what}: **ratio ingestor / bare**`, `**${formatSummary(drain.ratio, 2)}**`]);
    rows.push([`drain, ${what}: first point stored after`, formatSummary(drain.firstPointAfterS, 1, ' s')]);
    rows.push([`drain, ${what}: CPU per message, bare client / ingestor`, `${formatSummary(drain.bareCpuMicrosPerMessage, 1, ' µs')} / ${formatSummary(drain.ingestorCpuMicrosPerMessage, 1, ' µs')}`]);
    rows.push([`drain, ${what}: ingestor peak RSS`, formatSummary(drain.peakRssMiB, 0, ' MiB')]);
  }
  if (results.live !== undefined) {
    const live = results.live;
    const what = `live, ${n(live.targetRate)} msg/s for ${live.durationS} s → InfluxDB 1.x`;
    rows.push([`${what}: achieved / keeps up`, `${n(live.load.achievedRate)} msg/s / ${live.keepsUp ? 'yes' : 'no'} (all written ${live.caughtUpAfterLoadS} s after the load)`]);
    rows.push([`${what}: publish → queryable latency p50 / p99`, `${n(live.latencyMs.p50)} / ${n(live.latencyMs.p99)} ms (${n(live.latencyMs.samples)} samples)`]);
    rows.push([`${what}: ingestor peak RSS`, `${live.peakRssMiB} MiB`]);
    rows.push([`${what}: CPU per 100,000 messages: ingestor / Mosquitto / InfluxDB`, `${live.cpuSecondsPer100k} / ${live.brokerCpuSecondsPer100k} / ${live.influxCpuSecondsPer100k} s`]);
  }
  if (results.outage !== undefined) {
    const outage = results.outage;
    const what = `outage, ${n(outage.targetRate)} msg/s, InfluxDB down ${outage.outageS} s`;
    rows.push([`${what}: log growth`, `${outage.walGrowthMiB} MiB`]);
    rows.push([`${what}: catch-up after InfluxDB is back`, `${outage.catchUpS} s`]);
    rows.push([`${what}: ingestor peak RSS`, `${outage.peakRssMiB} MiB`]);
  }
  if (results.micro !== undefined) {
    const micro = results.micro;
    rows.push([`in process: the pipeline (decode, enrich, encode) into an in-memory log, msg/s`, formatSummary(micro.pipelinePerSecond)]);
    if (micro.pipelineWithRollupsPerSecond !== undefined) rows.push([`in process: the same with per-minute rollups on (ROLLUPS), msg/s`, formatSummary(micro.pipelineWithRollupsPerSecond)]);
    rows.push([`in process: append to the write-ahead log, records/s`, formatSummary(micro.appendPerSecond)]);
  }
  for (const cost of results.grafana ?? []) {
    const what = `grafana, ${n(cost.devices)} devices × ${cost.hours} h (${n(cost.points)} points)`;
    for (const rule of cost.rules) rows.push([`${what}: rule "${rule.title}", ms per evaluation`, n(rule.ms)]);
    for (const query of cost.queries.filter((q) => !q.what.startsWith('rule '))) rows.push([`${what}: ${query.what}, ms`, formatSummary(query.ms, 1)]);
  }
  for (const fleet of results.fleet ?? []) {
    const what = `fleet, ${n(fleet.devices)} devices (${n(fleet.points)} points)`;
    for (const query of fleet.queries) rows.push([`${what}: ${query.what}, ms (series)`, `${formatSummary(query.ms, 1)} (${n(query.series)})`]);
  }
  for (const fleet of results.fleetIngestor ?? []) {
    const what = `fleet ingestor, ${n(fleet.devices)} devices`;
    rows.push([`${what}: RSS after the directory is filled`, `${fleet.rssMiB} MiB`]);
    rows.push([`${what}: device_state tick, ms median (max)`, `${fleet.tickMs.median} (${fleet.tickMs.max})`]);
    rows.push([`${what}: event-loop delay during ticks, ms p99 (max)`, `${fleet.eventLoopDelayMs.p99} (${fleet.eventLoopDelayMs.max})`]);
    rows.push([`${what}: directory file, its save, a restart's load`, `${n(fleet.directoryBytes)} B, ${fleet.saveMs} ms, ${fleet.restartMs} ms`]);
    rows.push([`${what}: per day, device_state points (line-protocol bytes)`, `${n(fleet.perDay.deviceStatePoints)} (${n(fleet.perDay.deviceStateBytes)})`]);
    rows.push([`${what}: per day, device_trouble points (line-protocol bytes)`, `${n(fleet.perDay.deviceTroublePoints)} (${n(fleet.perDay.deviceTroubleBytes)})`]);
    for (const rule of fleet.rules) rows.push([`${what}: rule ${rule.uid}, ms best of 3 (series)`, `${rule.bestMs} (${n(rule.series)})`]);
  }
  return ['| measure | median (min–max) |', '|---|---|', ...rows.map(([measure, value]) => `| ${measure} | ${value} |`)].join('\n');
}

export function environmentLine(results: BenchResults): string {
  const env = results.environment;
  return `${env.date.slice(0, 10)}, ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB, Node ${env.node}, Mosquitto ${env.mosquitto}, InfluxDB ${env.influxdb}, VictoriaMetrics ${env.victoriaMetrics}; load average at start ${env.loadAverageAtStart.join(' ')}${results.options.quick ? '; --quick' : ''}`;
}
