/**
 * The ingestor's entry point: configuration → pipeline → run until a signal.
 *
 *   MQTT source ─▶ decode ─▶ line protocol ─▶ batcher ─▶ delivery ─▶ InfluxDB
 *
 * Exit codes: 0 after a clean shutdown; 2 on invalid configuration (one line on
 * stderr naming the variable); 3 when the shutdown timeout expired with points
 * still unwritten (they are counted in the last log line).
 */
import { config as loadDotenv } from 'dotenv';
import { ConfigError, describeConfig, loadConfig, type Config } from './config.ts';
import { createTelemetryJsonDecoder } from './decoders/telemetry-json.ts';
import { createLogger } from './logger.ts';
import { Batcher } from './pipeline/batcher.ts';
import { Ingest } from './pipeline/ingest.ts';
import { RejectLog } from './pipeline/rejects.ts';
import { emptyStats } from './pipeline/stats.ts';
import { MqttSource } from './sources/mqtt.ts';
import { Delivery } from './writer/delivery.ts';
import { createInfluxSender } from './writer/influx-http.ts';

export const EXIT_CONFIG = 2;
export const EXIT_UNFLUSHED = 3;
const STATS_LOG_INTERVAL_MS = 60_000;

function readConfig(): Config {
  // A .env in the working directory fills in what the environment leaves unset.
  loadDotenv({ quiet: true });
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sensorflow: invalid configuration: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}

function run(config: Config): void {
  const log = createLogger(config.logLevel);
  log.info({ config: describeConfig(config) }, 'starting');

  const stats = emptyStats();
  const delivery = new Delivery({
    send: createInfluxSender(config.influx),
    log,
    events: {
      written: (count) => {
        stats.pointsWritten += count;
      },
      rejected: (line, reason) => {
        stats.pointsRejectedByInflux += 1;
        log.warn({ line: line.slice(0, 300), error: reason }, 'InfluxDB rejected a point');
      },
      retrying: (outcome, delayMs) => {
        stats.writeRetries += 1;
        if (outcome.kind !== 'misconfigured') {
          log.warn({ outcome: outcome.kind, error: 'message' in outcome ? outcome.message : undefined, delayMs }, 'write failed; retrying');
        }
      },
    },
  });
  const batcher = new Batcher({
    batchSize: config.pipeline.batchSize,
    flushIntervalMs: config.pipeline.flushIntervalMs,
    concurrency: config.pipeline.writeConcurrency,
    maxQueuedBatches: config.pipeline.maxQueuedBatches,
    deliver: (lines) => delivery.deliver(lines),
  });
  const rejects = new RejectLog(log);
  const decoder = createTelemetryJsonDecoder({ maxPayloadBytes: config.pipeline.maxPayloadBytes });
  const source = new MqttSource(config.mqtt, new Ingest(decoder, batcher, rejects, stats), log);

  let lastReported = '';
  const statsTimer = setInterval(() => {
    const snapshot = JSON.stringify({ ...stats, rejects: rejects.counts() });
    if (snapshot !== lastReported) log.info({ stats: JSON.parse(snapshot) as unknown }, 'pipeline stats');
    lastReported = snapshot;
  }, STATS_LOG_INTERVAL_MS);
  statsTimer.unref();

  let shuttingDown = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'stopping: no new messages, flushing what was taken');
    await source.stop();
    const drained = await Promise.race([
      batcher.drain().then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), config.pipeline.shutdownTimeoutMs).unref()),
    ]);
    const unwritten = stats.pointsAccepted - stats.pointsWritten - stats.pointsRejectedByInflux;
    const summary = { ...stats, rejects: rejects.counts(), unwritten };
    if (!drained) {
      log.error({ stats: summary }, `shutdown timed out after ${config.pipeline.shutdownTimeoutMs} ms with ${unwritten} points unwritten`);
      log.flush();
      process.exit(EXIT_UNFLUSHED);
    }
    log.info({ stats: summary }, 'stopped');
    log.flush();
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void shutdown(signal));
  }
  source.start();
}

run(readConfig());
