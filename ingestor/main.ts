/**
 * The ingestor's entry point: configuration → pipeline → run until a signal.
 *
 *   MQTT source ─▶ decode ─▶ line protocol ─▶ write-ahead log ─▶ shipper ─▶ delivery ─▶ InfluxDB
 *                                              (ack after this)
 *
 * Exit codes: 0 after a clean shutdown (whatever was not yet written stays in
 * the write-ahead log for the next start); 2 when the configuration is
 * invalid or the write-ahead log / HTTP port cannot be used (one line on
 * stderr naming the setting).
 */
import { config as loadDotenv } from 'dotenv';
import { refuseDevelopmentSecrets } from '../common/production.ts';
import { ConfigError, describeConfig, loadConfig, type Config } from './config.ts';
import { createMetrics } from './health/metrics.ts';
import { startHealthServer, type Readiness } from './health/server.ts';
import { createLogger } from './logger.ts';
import { encodePoint } from './model/line-protocol.ts';
import { DeviceDirectory } from './directory/directory.ts';
import { Ingest } from './pipeline/ingest.ts';
import { PresenceTracker } from './presence/tracker.ts';
import { createRouter } from './routes/router.ts';
import { RejectLog } from './pipeline/rejects.ts';
import { emptyStats, statsPoint } from './pipeline/stats.ts';
import { MqttSource } from './sources/mqtt.ts';
import { INGESTOR_REFUSES } from './settings.ts';
import { Shipper } from './wal/shipper.ts';
import { WalError, WriteAheadLog } from './wal/wal.ts';
import { Delivery } from './writer/delivery.ts';
import { createInfluxSender, type SendLines } from './writer/influx-http.ts';

const EXIT_CONFIG = 2;

function fail(message: string): never {
  process.stderr.write(`sensorflow: ${message}\n`);
  process.exit(EXIT_CONFIG);
}

function readConfig(): Config {
  // A .env in the working directory fills in what the environment leaves unset.
  loadDotenv({ quiet: true });
  // SENSORFLOW_ENV=production: no development default secret gets through.
  refuseDevelopmentSecrets(process.env, INGESTOR_REFUSES);
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`);
    throw error;
  }
}

async function run(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  log.info({ config: describeConfig(config, process.env) }, 'starting');
  for (const warning of config.warnings) log.warn(warning);

  let wal: WriteAheadLog;
  try {
    wal = WriteAheadLog.open({ dir: config.pipeline.walDir, maxBytes: config.pipeline.walMaxBytes, syncIntervalMs: config.pipeline.walSyncIntervalMs }, log);
  } catch (error) {
    if (error instanceof WalError) fail(`write-ahead log unusable: ${error.message}`);
    throw error;
  }

  const stats = emptyStats();
  const rejects = new RejectLog(log);
  const decoder = createRouter(config.routing.routes, { maxPayloadBytes: config.pipeline.maxPayloadBytes, maxFutureMs: config.routing.maxFutureMs });
  const directory = new DeviceDirectory(config.devices.registry, config.devices.learnedFile, log);
  const ingest = new Ingest({ telemetry: decoder, wal, rejects, stats, directory, presence: new PresenceTracker(), log, maxFutureMs: config.routing.maxFutureMs, presenceHoldMs: config.devices.presenceHoldMs });
  const source = new MqttSource(config.mqtt, ingest, log);
  const metrics = createMetrics({ stats, rejects, wal, brokerConnected: () => source.connected });

  const send = createInfluxSender(config.influx);
  const timedSend: SendLines = async (lines) => {
    const stop = metrics.writeDuration.startTimer();
    const outcome = await send(lines);
    stop({ outcome: outcome.kind });
    return outcome;
  };
  const delivery = new Delivery({
    send: timedSend,
    log,
    backoff: { baseMs: Math.min(500, config.pipeline.writeRetryMaxMs), maxMs: config.pipeline.writeRetryMaxMs },
    misconfiguredRetryMs: config.pipeline.writeRetryMaxMs,
    events: {
      written: (count) => {
        stats.pointsWritten += count;
      },
      rejected: (line, reason) => {
        stats.pointsRejectedByInflux += 1;
        log.warn({ line: line.slice(0, 300), error: reason }, 'InfluxDB rejected a point for good');
      },
      retrying: (outcome, delayMs) => {
        stats.writeRetries += 1;
        if (outcome.kind !== 'misconfigured') {
          log.warn({ outcome: outcome.kind, error: 'message' in outcome ? outcome.message : undefined, delayMs }, 'write failed; retrying');
        }
      },
    },
  });
  const shipper = new Shipper({
    wal,
    deliver: (lines) => delivery.deliver(lines),
    batchSize: config.pipeline.batchSize,
    flushIntervalMs: config.pipeline.flushIntervalMs,
    concurrency: config.pipeline.writeConcurrency,
    log,
  });

  let stopping = false;
  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (stopping) reasons.push('stopping');
    if (!source.connected) reasons.push('not connected to the MQTT broker');
    if (wal.full) reasons.push('write-ahead log full (WAL_MAX_BYTES): not acknowledging messages until InfluxDB catches up');
    return { ready: reasons.length === 0, reasons };
  };
  const server = config.pipeline.httpPort === 0
    ? undefined
    : await startHealthServer(config.pipeline.httpPort, metrics.registry, readiness, config.pipeline.httpHost).catch((error: NodeJS.ErrnoException) =>
        fail(`HTTP_PORT=${config.pipeline.httpPort} on HTTP_HOST=${config.pipeline.httpHost}: cannot listen (${error.code ?? error.message})`),
      );

  // The pipeline's health as points, through the same log as everything else.
  const statsTimer = setInterval(() => {
    if (wal.full) return;
    const point = statsPoint(config.mqtt.clientId, stats, {
      rejects: rejects.total,
      walBytes: wal.totalBytes,
      walUnreadBytes: wal.unreadBytes,
      brokerConnected: source.connected,
    }, Date.now());
    void wal.append([encodePoint(point)]);
    stats.pointsAccepted += 1;
  }, config.pipeline.statsIntervalMs);
  statsTimer.unref();

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: no new messages, writing what the log holds');
    clearInterval(statsTimer);
    await source.stop();
    const drained = await Promise.race([
      // Held presence events first; inside the time limit, since a full log makes the append wait.
      ingest.flushHeldPresence().then(() => shipper.drain()).then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), config.pipeline.shutdownTimeoutMs).unref()),
    ]);
    shipper.stop();
    wal.close();
    directory.save();
    server?.close();
    const summary = { ...stats, rejects: rejects.counts(), walBytes: wal.totalBytes, unsentBytes: wal.unreadBytes };
    if (drained) log.info({ stats: summary }, 'stopped');
    else log.warn({ stats: summary }, `stopped after SHUTDOWN_TIMEOUT_MS=${config.pipeline.shutdownTimeoutMs} with points not yet written; they stay in the write-ahead log for the next start`);
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void shutdown(signal));
  }
  shipper.start();
  source.start();
}

await run(readConfig());
