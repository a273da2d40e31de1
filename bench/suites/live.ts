/**
 * Live load: the simulator's load mode publishing at a fixed rate through
 * Mosquitto into the ingestor and InfluxDB 1.x, with default ingestor
 * settings (FLUSH_INTERVAL_MS 1000, BATCH_SIZE 5000, the log on).
 *
 * - live: does the ingestor keep up, publish-to-queryable latency (sampled,
 *   see lib/latency.ts), peak RSS, CPU seconds per 100,000 messages;
 * - outage: the same load with InfluxDB stopped for a while: how much the
 *   log grows, how long the ingestor takes to catch up once InfluxDB is back,
 *   peak RSS.
 */
import type { Influx1, Mosquitto } from '../../test/harness/services.ts';
import { startMosquitto } from '../../test/harness/services.ts';
import { waitUntilSubscribed } from '../../test/harness/ingestor.ts';
import { TELEMETRY_FILTER } from '../lib/backlog.ts';
import { loadAverage } from '../lib/environment.ts';
import { LatencyProbe } from '../lib/latency.ts';
import { cpuSeconds, Sampler, sampleIngestor, type IngestorSample } from '../lib/probe.ts';
import { DATABASE, startBenchIngestor, startTarget, type BenchIngestor } from '../lib/services.ts';
import { startLoad, type LoadSummary } from '../lib/simulator.ts';
import { quantile, round } from '../lib/stats.ts';

const SAMPLE_MS = 250;
const LATENCY_PROBE_MS = 200;
const LATENCY_DEVICES = ['dev-001', 'dev-002', 'dev-003'];
const CATCH_UP_TIMEOUT_MS = 120_000;
const DEVICES = 1000;
const LOCATIONS = 10;

export interface LiveOptions {
  readonly rate: number;
  readonly durationS: number;
  readonly log: (line: string) => void;
}

/** Per-second series for the plot: seconds from the load's start. */
export interface RateSeries {
  readonly seconds: number[];
  readonly takenPerSecond: number[];
  readonly writtenPerSecond: number[];
  readonly walMiB: number[];
}

export interface LiveResult {
  readonly targetRate: number;
  readonly durationS: number;
  readonly load: LoadSummary;
  readonly messagesTaken: number;
  readonly pointsWritten: number;
  /** Every point written within 3 s of the load's end (FLUSH_INTERVAL_MS + 2 s). */
  readonly keepsUp: boolean;
  readonly caughtUpAfterLoadS: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly samples: number };
  readonly peakRssMiB: number;
  readonly cpuSecondsPer100k: number;
  /** The same for the broker and InfluxDB, the ingestor's neighbours on the two cores. */
  readonly brokerCpuSecondsPer100k: number;
  readonly influxCpuSecondsPer100k: number;
  readonly loadAverage: readonly number[];
  readonly series: RateSeries;
  readonly latency: { readonly seconds: number[]; readonly latencyMs: number[] };
}

export interface OutageResult {
  readonly targetRate: number;
  readonly outageS: number;
  readonly load: LoadSummary;
  readonly walGrowthMiB: number;
  /** From InfluxDB answering again to the ingestor being less than 2 s of load behind. */
  readonly catchUpS: number;
  readonly peakRssMiB: number;
  readonly loadAverage: readonly number[];
  readonly series: RateSeries;
}

interface Stack {
  readonly broker: Mosquitto;
  readonly influx: Influx1;
  readonly ingestor: BenchIngestor;
}

async function withStack<T>(name: string, use: (stack: Stack) => Promise<T>): Promise<T> {
  const broker = await startMosquitto();
  const target = await startTarget('v1');
  let ingestor: BenchIngestor | undefined;
  try {
    ingestor = await startBenchIngestor({ ...target.env, MQTT_URL: broker.url, MQTT_CLIENT_ID: name }, name);
    await waitUntilSubscribed(ingestor.ingestor, [TELEMETRY_FILTER]);
    return await use({ broker, influx: target.service as Influx1, ingestor });
  } finally {
    await ingestor?.stop();
    await Promise.all([broker.stop(), target.service.stop()]);
  }
}

function rateSeries(samples: readonly IngestorSample[], originMs: number): RateSeries {
  const series: RateSeries = { seconds: [], takenPerSecond: [], writtenPerSecond: [], walMiB: [] };
  // One point per second: rates over whole seconds smooth the sampling jitter.
  let previous: IngestorSample | undefined;
  for (const sample of samples) {
    if (previous !== undefined && sample.atMs - previous.atMs < 1000) continue;
    if (previous !== undefined) {
      const seconds = (sample.atMs - previous.atMs) / 1000;
      series.seconds.push(round((sample.atMs - originMs) / 1000, 2));
      series.takenPerSecond.push(Math.round((sample.messagesIn - previous.messagesIn) / seconds));
      series.writtenPerSecond.push(Math.round((sample.pointsWritten - previous.pointsWritten) / seconds));
      series.walMiB.push(round(sample.walBytes / 2 ** 20, 1));
    }
    previous = sample;
  }
  return series;
}

/** Waits until `done(sample)` holds for a fresh sample; returns when it did (ms since epoch). */
async function waitForSample(sampler: Sampler<IngestorSample>, done: (sample: IngestorSample) => boolean, what: string): Promise<number> {
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  let seen = sampler.samples.length;
  for (;;) {
    const fresh = sampler.samples.slice(seen);
    seen += fresh.length;
    const hit = fresh.find(done);
    if (hit !== undefined) return hit.atMs;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS / 2));
  }
}

export function benchLive(options: LiveOptions): Promise<LiveResult> {
  return withStack('bench-live', async ({ broker, influx, ingestor }) => {
    const sampler = new Sampler(() => sampleIngestor(ingestor.metricsUrl, ingestor.pid), SAMPLE_MS);
    const loadAtStart = loadAverage();
    const pids = [ingestor.pid, broker.process.child.pid as number, influx.process.child.pid as number];
    const cpuAtStart = pids.map(cpuSeconds);
    const startedAtMs = Date.now();
    const probe = new LatencyProbe(influx, DATABASE, LATENCY_DEVICES, LATENCY_PROBE_MS, startedAtMs - 1000);
    options.log(`live: ${options.rate} msg/s for ${options.durationS} s`);
    const load = await startLoad(broker.url, { rate: options.rate, durationS: options.durationS, devices: DEVICES, locations: LOCATIONS }).finished;
    const loadEndedAtMs = Date.now();
    let caughtUpAtMs: number;
    try {
      caughtUpAtMs = await waitForSample(sampler, (s) => s.pointsWritten >= load.acked, `${load.acked} points written`);
    } finally {
      await probe.stop();
    }
    const [cpu = 0, brokerCpu = 0, influxCpu = 0] = pids.map((pid, i) => cpuSeconds(pid) - (cpuAtStart[i] as number));
    const samples = await sampler.stop();
    const last = samples.at(-1) as IngestorSample;
    const latencies = probe.samples.map((s) => s.latencyMs);
    const caughtUpAfterLoadS = round((caughtUpAtMs - loadEndedAtMs) / 1000, 2);
    const result: LiveResult = {
      targetRate: options.rate,
      durationS: options.durationS,
      load,
      messagesTaken: last.messagesIn,
      pointsWritten: last.pointsWritten,
      keepsUp: caughtUpAfterLoadS <= 3 && load.achievedRate >= options.rate * 0.95,
      caughtUpAfterLoadS,
      latencyMs: { p50: Math.round(quantile(latencies, 0.5)), p99: Math.round(quantile(latencies, 0.99)), max: Math.round(Math.max(...latencies)), samples: latencies.length },
      peakRssMiB: Math.round(Math.max(...samples.map((s) => s.rssMiB))),
      cpuSecondsPer100k: round((cpu / last.messagesIn) * 100_000, 2),
      brokerCpuSecondsPer100k: round((brokerCpu / last.messagesIn) * 100_000, 2),
      influxCpuSecondsPer100k: round((influxCpu / last.messagesIn) * 100_000, 2),
      loadAverage: [...loadAtStart, ...loadAverage()],
      series: rateSeries(samples, startedAtMs),
      latency: { seconds: probe.samples.map((s) => round((s.atMs - startedAtMs) / 1000, 2)), latencyMs: latencies.map((l) => Math.round(l)) },
    };
    options.log(`live: achieved ${load.achievedRate} msg/s, caught up ${caughtUpAfterLoadS} s after the load, latency p50 ${result.latencyMs.p50} ms p99 ${result.latencyMs.p99} ms (${latencies.length} samples), peak RSS ${result.peakRssMiB} MiB, ${result.cpuSecondsPer100k} CPU s/100k (Mosquitto ${result.brokerCpuSecondsPer100k}, InfluxDB ${result.influxCpuSecondsPer100k}) (load ${loadAtStart.join(' ')})`);
    return result;
  });
}

export interface OutageOptions extends LiveOptions {
  /** Load before InfluxDB stops, seconds. */
  readonly beforeS: number;
  readonly outageS: number;
}

export function benchOutage(options: OutageOptions): Promise<OutageResult> {
  return withStack('bench-outage', async ({ broker, influx, ingestor }) => {
    const sampler = new Sampler(() => sampleIngestor(ingestor.metricsUrl, ingestor.pid), SAMPLE_MS);
    const loadAtStart = loadAverage();
    const startedAtMs = Date.now();
    options.log(`outage: ${options.rate} msg/s for ${options.durationS} s, InfluxDB stopped from ${options.beforeS} s for ${options.outageS} s`);
    const loadRun = startLoad(broker.url, { rate: options.rate, durationS: options.durationS, devices: DEVICES, locations: LOCATIONS });
    await new Promise((resolve) => setTimeout(resolve, options.beforeS * 1000));
    const walAtOutage = sampler.samples.at(-1)?.walBytes ?? 0;
    await influx.pause();
    await new Promise((resolve) => setTimeout(resolve, options.outageS * 1000));
    await influx.start();
    const backAtMs = Date.now();
    const behind = options.rate * 2; // points: less than 2 s of load behind
    const caughtUpAtMs = await waitForSample(sampler, (s) => s.atMs > backAtMs && s.pointsAccepted - s.pointsWritten <= behind, 'the ingestor to catch up after the outage');
    const load = await loadRun.finished;
    await waitForSample(sampler, (s) => s.pointsWritten >= load.acked, `${load.acked} points written`);
    const samples = await sampler.stop();
    const result: OutageResult = {
      targetRate: options.rate,
      outageS: options.outageS,
      load,
      walGrowthMiB: round((Math.max(...samples.map((s) => s.walBytes)) - walAtOutage) / 2 ** 20, 1),
      catchUpS: round((caughtUpAtMs - backAtMs) / 1000, 2),
      peakRssMiB: Math.round(Math.max(...samples.map((s) => s.rssMiB))),
      loadAverage: [...loadAtStart, ...loadAverage()],
      series: rateSeries(samples, startedAtMs),
    };
    options.log(`outage: log grew ${result.walGrowthMiB} MiB, caught up ${result.catchUpS} s after InfluxDB was back, peak RSS ${result.peakRssMiB} MiB (load ${loadAtStart.join(' ')})`);
    return result;
  });
}
