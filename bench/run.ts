/**
 * `npm run bench`: throughput and memory of the ingestor's hot path, measured,
 * never asserted. Three parts:
 *
 * 1. the pipeline in process: messages/s through `Ingest` (handler table,
 *    default route, enrich, encode) into an in-memory log;
 * 2. write-ahead log appends (the per-message cost before the PUBACK);
 * 3. end to end (real Mosquitto + VictoriaMetrics, all on 127.0.0.1): N
 *    messages published at QoS 1 until every point is readable, with the
 *    ingestor's peak RSS.
 *
 * BENCH_MESSAGES sets N (default 100000). Results go to stdout as JSON.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { WriteAheadLog } from '../ingestor/wal/wal.ts';
import { makeFleet } from '../test/harness/fleet.ts';
import { startIngestor, waitUntilSubscribed } from '../test/harness/ingestor.ts';
import { memoryIngest } from '../test/harness/memory-ingest.ts';
import { waitFor } from '../test/harness/process.ts';
import { connectPublisher, publishAll } from '../test/harness/publisher.ts';
import { startMosquitto, startVictoria } from '../test/harness/services.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const DEVICES = 100;

function machine(): Record<string, unknown> {
  return { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

async function benchDecode(): Promise<Record<string, number>> {
  const fleet = makeFleet(DEVICES, Math.ceil(MESSAGES / DEVICES), Date.now() - 3_600_000);
  const messages = fleet.messages.map((m) => ({ topic: m.topic, payload: Buffer.from(m.payload), receivedAtMs: Date.now() }));
  const warmUp = memoryIngest({ emqxPresence: false, sparkplug: false });
  for (const message of messages.slice(0, 5000)) await warmUp.ingest.accept(message);
  const { ingest, log } = memoryIngest({ emqxPresence: false, sparkplug: false });
  const started = performance.now();
  for (const message of messages) await ingest.accept(message);
  const seconds = (performance.now() - started) / 1000;
  return { messages: messages.length, lines: log.lines.length, seconds: round(seconds), messagesPerSecond: Math.round(messages.length / seconds) };
}

const round = (value: number): number => Math.round(value * 1000) / 1000;

/** The cost on the acknowledgement path: one write(2) per message, fdatasync once a second. */
function benchWalAppend(): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'sensorflow-bench-wal-'));
  const wal = WriteAheadLog.open({ dir, maxBytes: 1 << 30, syncIntervalMs: 1000 }, pino({ level: 'silent' }));
  const line = 'telemetry,device=dev-001,location=site-1 temperature=21.43,humidity=45.2,battery=99.9,rssi=-62 1795357150361';
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i += 1) void wal.append([line]);
  wal.sync();
  const seconds = (performance.now() - started) / 1000;
  wal.close();
  rmSync(dir, { recursive: true, force: true });
  return { appends: MESSAGES, seconds: round(seconds), appendsPerSecond: Math.round(MESSAGES / seconds) };
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function benchEndToEnd(): Promise<Record<string, number>> {
  const [broker, vm] = await Promise.all([startMosquitto(), startVictoria()]);
  const ingestor = startIngestor({ MQTT_URL: broker.url, INFLUX_URL: vm.url, INFLUX_API: 'v2', INFLUX_TOKEN: 'bench', LOG_LEVEL: 'info' }, 'ingestor-bench');
  let peakRssKiB = 0;
  const sampler = setInterval(() => {
    if (ingestor.process.child.pid !== undefined) peakRssKiB = Math.max(peakRssKiB, rssKiB(ingestor.process.child.pid));
  }, 100);
  try {
    await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry']);
    const fleet = makeFleet(DEVICES, Math.ceil(MESSAGES / DEVICES), Date.now() - 3_600_000);
    const publisher = await connectPublisher(broker.url);
    const started = performance.now();
    await publishAll(publisher, fleet.messages, { window: 500 });
    const publishedSeconds = (performance.now() - started) / 1000;
    await publisher.endAsync();
    await waitFor('every point readable', async () => {
      const series = await vm.exportSeries('telemetry_temperature');
      const samples = series.reduce((sum, s) => sum + s.timestamps.length, 0);
      return samples >= fleet.messages.length ? true : undefined;
    }, 300_000, 500);
    const seconds = (performance.now() - started) / 1000;
    return {
      messages: fleet.messages.length,
      publishSeconds: round(publishedSeconds),
      endToEndSeconds: round(seconds),
      messagesPerSecond: Math.round(fleet.messages.length / seconds),
      ingestorPeakRssMiB: Math.round(peakRssKiB / 1024),
    };
  } finally {
    clearInterval(sampler);
    await ingestor.stop();
    ingestor.cleanup();
    await Promise.all([broker.stop(), vm.stop()]);
  }
}

const decodeResult = await benchDecode();
const walAppend = benchWalAppend();
const endToEnd = await benchEndToEnd();
process.stdout.write(`${JSON.stringify({ machine: machine(), decodeAndEncode: decodeResult, walAppend, endToEnd }, null, 2)}\n`);
