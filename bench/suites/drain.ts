/**
 * Drain: N QoS 1 messages queued for two persistent sessions, then drained
 * by a bare mqtt.js client (JSON.parse only) and by the ingestor, one after
 * the other (order alternating between runs), in the same run on the same
 * backlog. Each run gets a fresh broker; the database stays up across runs.
 *
 * - bare client: first to last message, timed by itself;
 * - ingestor: first message taken to last point written, read from its own
 *   /metrics every SAMPLE_MS (the midpoint of the interval where each counter
 *   crossed, so ±SAMPLE_MS/2), never from count() queries on the database.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startMosquitto } from '../../test/harness/services.ts';
import { registerSession, publishBacklog, type BacklogShape } from '../lib/backlog.ts';
import { loadAverage } from '../lib/environment.ts';
import { cpuSeconds, Sampler, sampleIngestor, type IngestorSample } from '../lib/probe.ts';
import { startBenchIngestor, startTarget, type WritePath } from '../lib/services.ts';
import { crossingTimes, round, summarize, type Summary } from '../lib/stats.ts';

const SAMPLE_MS = 100;
const DRAIN_TIMEOUT_MS = 600_000;
const TSX = import.meta.resolve('tsx');
const BARE_CLIENT = join(import.meta.dirname, '..', 'lib', 'bare-client.ts');

export interface DrainOptions {
  readonly messages: number;
  readonly devices: number;
  readonly locations: number;
  readonly runs: number;
  /** Extra node flags for the ingestor, e.g. `--cpu-prof`. */
  readonly ingestorNodeArgs: readonly string[];
  readonly log: (line: string) => void;
}

/** A counter over time, seconds from the first message taken. */
export interface Curve {
  readonly seconds: number[];
  readonly count: number[];
}

export interface DrainRun {
  readonly order: 'bare-first' | 'ingestor-first';
  readonly publishSeconds: number;
  /** CPU: microseconds of the process's CPU time per message over the drain. */
  readonly bare: { seconds: number; rate: number; cpuMicrosPerMessage: number };
  readonly ingestor: {
    seconds: number;
    rate: number;
    /** From the first message taken to the first point InfluxDB confirmed. */
    firstPointAfterS: number;
    /** Longest stretch with no new point written, once writing began. */
    longestWriteGapS: number;
    peakRssMiB: number;
    cpuMicrosPerMessage: number;
    /** Write requests to the database and their mean duration. */
    writeRequests: number;
    writeMeanMs: number;
  };
  readonly ratio: number;
  readonly loadAverage: readonly number[];
  readonly curves: { bare: Curve; ingestorTaken: Curve; ingestorWritten: Curve };
}

export interface DrainResult {
  readonly path: WritePath;
  readonly messages: number;
  readonly devices: number;
  readonly locations: number;
  readonly runs: DrainRun[];
  readonly bareRate: Summary;
  readonly ingestorRate: Summary;
  readonly ratio: Summary;
  readonly firstPointAfterS: Summary;
  readonly peakRssMiB: Summary;
  readonly bareCpuMicrosPerMessage: Summary;
  readonly ingestorCpuMicrosPerMessage: Summary;
}

interface BareOutcome {
  readonly firstAtMs: number;
  readonly lastAtMs: number;
  readonly cpuSeconds: number;
  readonly progress: { atMs: number; value: number }[];
}

function runBareClient(url: string, clientId: string, count: number): Promise<BareOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, BARE_CLIENT, url, clientId, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const progress: { atMs: number; value: number }[] = [];
    let done: { firstAtMs: number; lastAtMs: number; cpuSeconds: number } | undefined;
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const message = JSON.parse(line) as { atMs: number; count: number; done?: true; firstAtMs: number; lastAtMs: number; cpuSeconds: number };
        if (message.done) done = message;
        else progress.push({ atMs: message.atMs, value: message.count });
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), DRAIN_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (done === undefined) reject(new Error(`the bare client exited with ${code} before draining ${count} messages`));
      else resolve({ ...done, progress });
    });
  });
}

function curve(points: readonly { atMs: number; value: number }[], originMs: number): Curve {
  return { seconds: points.map((p) => round((p.atMs - originMs) / 1000, 2)), count: points.map((p) => p.value) };
}

async function drainWithIngestor(url: string, clientId: string, targetEnv: Record<string, string>, count: number, nodeArgs: readonly string[]): Promise<{ samples: IngestorSample[]; cpuSeconds: number }> {
  const ingestor = await startBenchIngestor({ ...targetEnv, MQTT_URL: url, MQTT_CLIENT_ID: clientId }, `bench-ingestor-${clientId}`, nodeArgs);
  try {
    // From /metrics answering (start-up done) to the last point written.
    const cpuAtStart = cpuSeconds(ingestor.pid);
    const sampler = new Sampler(() => sampleIngestor(ingestor.metricsUrl, ingestor.pid), SAMPLE_MS);
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while ((sampler.samples.at(-1)?.pointsWritten ?? 0) < count) {
      if (Date.now() > deadline) throw new Error(`the ingestor did not write ${count} points in ${DRAIN_TIMEOUT_MS} ms`);
      if (ingestor.ingestor.process.child.exitCode !== null) throw new Error(`the ingestor exited: see ${ingestor.ingestor.process.logPath}`);
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
    const cpu = cpuSeconds(ingestor.pid) - cpuAtStart;
    return { samples: await sampler.stop(), cpuSeconds: cpu };
  } finally {
    await ingestor.stop();
  }
}

function longestGapS(samples: readonly IngestorSample[], count: number): number {
  let longest = 0;
  let lastRiseMs: number | undefined;
  let previous = 0;
  for (const sample of samples) {
    if (sample.pointsWritten > previous) {
      if (lastRiseMs !== undefined) longest = Math.max(longest, sample.atMs - lastRiseMs);
      lastRiseMs = sample.atMs;
      previous = sample.pointsWritten;
    }
    if (sample.pointsWritten >= count) break;
  }
  return longest / 1000;
}

async function oneRun(path: WritePath, targetEnv: Record<string, string>, shape: BacklogShape, run: number, options: DrainOptions): Promise<DrainRun> {
  const broker = await startMosquitto();
  try {
    const bareId = `bench-bare-${run}`;
    const ingestorId = `bench-ingestor-${run}`;
    await registerSession(broker.url, bareId);
    await registerSession(broker.url, ingestorId);
    options.log(`drain ${path} run ${run + 1}/${options.runs}: publishing ${shape.messages.toLocaleString('en-US')} messages`);
    const publishSeconds = await publishBacklog(broker.url, shape);
    const loadAtStart = loadAverage();

    const bareFirst = run % 2 === 0;
    let bare: BareOutcome | undefined;
    let ingestorSamples: IngestorSample[] = [];
    let ingestorCpuSeconds = 0;
    for (const who of bareFirst ? ['bare', 'ingestor'] : ['ingestor', 'bare']) {
      options.log(`drain ${path} run ${run + 1}/${options.runs}: ${who} draining`);
      if (who === 'bare') bare = await runBareClient(broker.url, bareId, shape.messages);
      else ({ samples: ingestorSamples, cpuSeconds: ingestorCpuSeconds } = await drainWithIngestor(broker.url, ingestorId, targetEnv, shape.messages, options.ingestorNodeArgs));
    }
    if (bare === undefined) throw new Error('unreachable: the bare client did not run');

    const taken = ingestorSamples.map((s) => ({ atMs: s.atMs, value: s.messagesIn }));
    const written = ingestorSamples.map((s) => ({ atMs: s.atMs, value: s.pointsWritten }));
    const takenSpan = crossingTimes(taken, 0, shape.messages);
    const writtenSpan = crossingTimes(written, 0, shape.messages);
    if (takenSpan === undefined || writtenSpan === undefined) throw new Error('the ingestor samples do not cover the drain');
    const lastSample = ingestorSamples.at(-1) as IngestorSample;
    const ingestorSeconds = (writtenSpan.endMs - takenSpan.startMs) / 1000;
    const bareSeconds = (bare.lastAtMs - bare.firstAtMs) / 1000;
    const bareRate = shape.messages / bareSeconds;
    const ingestorRate = shape.messages / ingestorSeconds;
    const result: DrainRun = {
      order: bareFirst ? 'bare-first' : 'ingestor-first',
      publishSeconds: round(publishSeconds, 2),
      bare: { seconds: round(bareSeconds), rate: Math.round(bareRate), cpuMicrosPerMessage: round((bare.cpuSeconds / shape.messages) * 1e6, 1) },
      ingestor: {
        seconds: round(ingestorSeconds),
        rate: Math.round(ingestorRate),
        firstPointAfterS: round((writtenSpan.startMs - takenSpan.startMs) / 1000, 2),
        longestWriteGapS: round(longestGapS(ingestorSamples, shape.messages), 2),
        peakRssMiB: Math.round(Math.max(...ingestorSamples.map((s) => s.rssMiB))),
        cpuMicrosPerMessage: round((ingestorCpuSeconds / shape.messages) * 1e6, 1),
        writeRequests: lastSample.writeRequests,
        writeMeanMs: Math.round((lastSample.writeSeconds / lastSample.writeRequests) * 1000),
      },
      ratio: round(ingestorRate / bareRate),
      loadAverage: [...loadAtStart, ...loadAverage()],
      curves: {
        bare: curve([{ atMs: bare.firstAtMs, value: 0 }, ...bare.progress.filter((p) => p.atMs > bare.firstAtMs)], bare.firstAtMs),
        ingestorTaken: curve(taken, takenSpan.startMs),
        ingestorWritten: curve(written, takenSpan.startMs),
      },
    };
    options.log(`drain ${path} run ${run + 1}/${options.runs}: bare ${result.bare.rate} msg/s (${result.bare.cpuMicrosPerMessage} µs CPU/msg), ingestor ${result.ingestor.rate} msg/s (${result.ingestor.cpuMicrosPerMessage} µs CPU/msg), ratio ${result.ratio}, first point after ${result.ingestor.firstPointAfterS} s, ${result.ingestor.writeRequests} writes of ${result.ingestor.writeMeanMs} ms on average, peak RSS ${result.ingestor.peakRssMiB} MiB (load ${loadAtStart.join(' ')})`);
    return result;
  } finally {
    await broker.stop();
  }
}

export async function benchDrain(path: WritePath, options: DrainOptions): Promise<DrainResult> {
  const target = await startTarget(path);
  const runs: DrainRun[] = [];
  try {
    for (let run = 0; run < options.runs; run += 1) {
      // A different day per run: every run writes new points, none overwrites.
      const shape: BacklogShape = { messages: options.messages, devices: options.devices, locations: options.locations, baseMs: Date.UTC(2026, 0, 1 + run * 7) };
      runs.push(await oneRun(path, target.env, shape, run, options));
    }
  } finally {
    await target.service.stop();
  }
  return {
    path,
    messages: options.messages,
    devices: options.devices,
    locations: options.locations,
    runs,
    bareRate: summarize(runs.map((r) => r.bare.rate)),
    ingestorRate: summarize(runs.map((r) => r.ingestor.rate)),
    ratio: summarize(runs.map((r) => r.ratio)),
    firstPointAfterS: summarize(runs.map((r) => r.ingestor.firstPointAfterS)),
    peakRssMiB: summarize(runs.map((r) => r.ingestor.peakRssMiB)),
    bareCpuMicrosPerMessage: summarize(runs.map((r) => r.bare.cpuMicrosPerMessage)),
    ingestorCpuMicrosPerMessage: summarize(runs.map((r) => r.ingestor.cpuMicrosPerMessage)),
  };
}
