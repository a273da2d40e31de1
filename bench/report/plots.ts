/**
 * PNG plots of a result, without a browser: Vega-Lite specs compiled to
 * Vega, rendered headless to SVG, rasterised by resvg (a binary shipped
 * inside its npm package).
 */
import { writeFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { DrainRun } from '../suites/drain.ts';
import type { BenchResults } from './results.ts';

const FONT = 'DejaVu Sans';
const CONFIG = { font: FONT, view: { stroke: null }, axis: { grid: true, gridColor: '#e5e5e5' } };

async function renderPng(spec: TopLevelSpec, file: string): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: FONT } }).render().asPng();
  writeFileSync(file, png);
}

/** The run with the median ratio: the one the plot shows. */
function medianRun(runs: readonly DrainRun[]): DrainRun {
  const sorted = [...runs].sort((a, b) => a.ratio - b.ratio);
  return sorted[Math.floor((sorted.length - 1) / 2)] as DrainRun;
}

/** Stored points (and messages taken) over time, ingestor vs bare client, one panel per write path. */
export async function plotDrain(results: BenchResults, file: string): Promise<boolean> {
  if (results.drain.length === 0) return false;
  const values: { path: string; series: string; seconds: number; count: number }[] = [];
  for (const drain of results.drain) {
    const path = drain.path === 'v1' ? 'InfluxDB 1.x (v1 write)' : 'VictoriaMetrics (v2 write)';
    const run = medianRun(drain.runs);
    const add = (series: string, curve: { seconds: number[]; count: number[] }): void => {
      curve.seconds.forEach((seconds, i) => values.push({ path, series, seconds, count: curve.count[i] as number }));
    };
    add('bare mqtt.js client: messages parsed', run.curves.bare);
    add('ingestor: messages taken (in the log)', run.curves.ingestorTaken);
    add('ingestor: points stored', run.curves.ingestorWritten);
  }
  const messages = results.drain[0]?.messages ?? 0;
  await renderPng({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Draining ${messages.toLocaleString('en-US')} queued QoS 1 messages (median run)`, font: FONT },
    data: { values },
    facet: { column: { field: 'path', type: 'nominal', title: null } },
    spec: {
      width: 420,
      height: 260,
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x: { field: 'seconds', type: 'quantitative', title: 'seconds since the first message' },
        y: { field: 'count', type: 'quantitative', title: 'count' },
        color: { field: 'series', type: 'nominal', title: null, scale: { range: ['#888888', '#f58518', '#4c78a8'] } },
        strokeDash: { field: 'series', type: 'nominal', title: null, scale: { range: [[4, 3], [2, 2], [1, 0]] } },
      },
    },
    resolve: { scale: { x: 'independent' } },
    config: { ...CONFIG, legend: { orient: 'top', direction: 'vertical', symbolStrokeWidth: 3, labelLimit: 400 } },
  }, file);
  return true;
}

/** Rate in and out per second, and publish → queryable latency, over the live run. */
export async function plotLive(results: BenchResults, file: string): Promise<boolean> {
  const live = results.live;
  if (live === undefined) return false;
  const rates = live.series.seconds.flatMap((seconds, i) => [
    { seconds, series: 'messages taken /s', rate: live.series.takenPerSecond[i] },
    { seconds, series: 'points stored /s', rate: live.series.writtenPerSecond[i] },
  ]);
  const latency = live.latency.seconds.map((seconds, i) => ({ seconds, latency: live.latency.latencyMs[i] }));
  await renderPng({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Live load, ${live.targetRate.toLocaleString('en-US')} msg/s → InfluxDB 1.x: p50 ${live.latencyMs.p50} ms, p99 ${live.latencyMs.p99} ms`, font: FONT },
    vconcat: [
      {
        width: 760,
        height: 200,
        data: { values: rates },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'seconds since the load started' },
          y: { field: 'rate', type: 'quantitative', title: 'per second' },
          color: { field: 'series', type: 'nominal', title: null },
        },
      },
      {
        width: 760,
        height: 200,
        data: { values: latency },
        mark: { type: 'point', size: 8, filled: true, opacity: 0.5 },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'seconds since the load started' },
          y: { field: 'latency', type: 'quantitative', title: 'publish → queryable, ms' },
        },
      },
    ],
    config: { ...CONFIG, legend: { orient: 'top' } },
  }, file);
  return true;
}

/** The outage run: rates and the log's size while InfluxDB is down and after. */
export async function plotOutage(results: BenchResults, file: string): Promise<boolean> {
  const outage = results.outage;
  if (outage === undefined) return false;
  const rates = outage.series.seconds.flatMap((seconds, i) => [
    { seconds, series: 'messages taken /s', value: outage.series.takenPerSecond[i] },
    { seconds, series: 'points stored /s', value: outage.series.writtenPerSecond[i] },
  ]);
  const wal = outage.series.seconds.map((seconds, i) => ({ seconds, mib: outage.series.walMiB[i] }));
  await renderPng({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `InfluxDB down ${outage.outageS} s under ${outage.targetRate.toLocaleString('en-US')} msg/s: caught up ${outage.catchUpS} s after it was back`, font: FONT },
    vconcat: [
      {
        width: 760,
        height: 180,
        data: { values: rates },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'seconds since the load started' },
          y: { field: 'value', type: 'quantitative', title: 'per second' },
          color: { field: 'series', type: 'nominal', title: null },
        },
      },
      {
        width: 760,
        height: 140,
        data: { values: wal },
        mark: { type: 'area', opacity: 0.6 },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'seconds since the load started' },
          y: { field: 'mib', type: 'quantitative', title: 'write-ahead log, MiB' },
        },
      },
    ],
    config: { ...CONFIG, legend: { orient: 'top' } },
  }, file);
  return true;
}
