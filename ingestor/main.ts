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
import { commandLine } from '../common/cli.ts';
import { refuseDevelopmentSecrets } from '../common/production.ts';
import { COMMON_SCHEMA } from '../common/settings.ts';
import { ConfigError, describeConfig, loadConfig, redactUrl, type Config } from './config.ts';
import { createMetrics } from './health/metrics.ts';
import { assessReadiness } from './health/readiness.ts';
import { startHealthServer } from './health/server.ts';
import { createLogger } from './logger.ts';
import { encodePoint } from './model/line-protocol.ts';
import { DeviceDirectory } from './directory/directory.ts';
import { LagCounter } from './liveness/catch-up.ts';
import { LivenessTicker } from './liveness/ticker.ts';
import { handlerTable } from './pipeline/handlers.ts';
import { Ingest } from './pipeline/ingest.ts';
import { PresenceTracker } from './presence/tracker.ts';
import { RollupBook } from './rollups/book.ts';
import { RollupTicker } from './rollups/ticker.ts';
import { RejectLog } from './pipeline/rejects.ts';
import { emptyStats, statsPoint } from './pipeline/stats.ts';
import { MqttSource } from './sources/mqtt.ts';
import { INGESTOR_REFUSES, INGESTOR_SCHEMA } from './settings.ts';
import { Shipper } from './wal/shipper.ts';
import { WalError, WriteAheadLog } from './wal/wal.ts';
import { Delivery } from './writer/delivery.ts';
import { describeInfluxState, InfluxHealth } from './writer/influx-health.ts';
import { createInfluxSender, type SendLines } from './writer/influx-http.ts';
import { RefusedLineRecorder } from './writer/refused-lines.ts';
import { guardAgainstInfluxdb3, probeServer, wrongApiMessage, type ServerIdentity } from './writer/server-identity.ts';

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
  const walDirSetting = `WAL_DIR=${JSON.stringify(config.pipeline.walDir)}`;
  const influxTarget = `INFLUX_URL=${redactUrl(config.influx.url)}`;

  let wal: WriteAheadLog;
  try {
    wal = WriteAheadLog.open({ dir: config.pipeline.walDir, maxBytes: config.pipeline.walMaxBytes, syncIntervalMs: config.pipeline.walSyncIntervalMs }, log);
  } catch (error) {
    if (error instanceof WalError) fail(`write-ahead log unusable: ${walDirSetting}: ${error.message}`);
    throw error;
  }

  const stats = emptyStats();
  const rejects = new RejectLog(log);
  const handlers = handlerTable({ emqxPresence: config.devices.emqxPresence, ownClientId: config.mqtt.clientId, serviceUsers: config.devices.serviceUsers, sparkplug: config.routing.sparkplug, routes: config.routing.routes });
  const bounds = { maxPayloadBytes: config.pipeline.maxPayloadBytes, maxFutureMs: config.routing.maxFutureMs };
  const directory = new DeviceDirectory(config.devices.registry, config.devices.learnedFile, log);
  const lag = new LagCounter(config.liveness.maxLagMs);
  // Per-minute rollups in the stream (docs/data-model.md#rollups); the same instance tag as ingestor_stats.
  const rollupBook = config.rollups.enabled
    ? new RollupBook({ measurements: config.rollups.measurements, graceMs: config.rollups.graceMs, maxBuckets: config.rollups.maxBuckets, instance: config.mqtt.clientId }, Date.now())
    : undefined;
  const ingest = new Ingest({
    handlers, bounds, wal, rejects, stats, directory, presence: new PresenceTracker(), log, presenceHoldMs: config.devices.presenceHoldMs, gatewayUsers: new Set(config.devices.gatewayUsers), lag,
    ...(rollupBook !== undefined && { rollups: rollupBook }),
  });
  const rollups = rollupBook === undefined
    ? undefined
    : new RollupTicker({ book: rollupBook, wal, canAppend: () => wal.appendState.kind === 'open', sourceConnected: () => source.connected, log, accepted: (count) => void (stats.pointsAccepted += count) });
  const source = new MqttSource(config.mqtt, ingest, log);
  const liveness = new LivenessTicker({
    intervalMs: config.liveness.intervalMs,
    forgetAfterMs: config.liveness.forgetAfterMs,
    troubleSilentAfterMs: config.liveness.troubleSilentAfterMs,
    instance: config.mqtt.clientId,
    directory,
    wal,
    canAppend: () => wal.appendState.kind === 'open',
    stats,
    lag,
    broker: source,
    log,
    sharedGroup: config.liveness.sharedGroup,
  });
  const influxHealth = new InfluxHealth();
  const metrics = createMetrics({ stats, rejects, wal, brokerConnected: () => source.connected, influx: () => influxHealth.state });

  // INFLUX_API=v1/v2 pointed at InfluxDB 3 is refused (writer/server-identity.ts):
  // at start when it answers; else before the first write, keeping the data.
  let send = createInfluxSender(config.influx);
  if (config.influx.api !== 'v3') {
    const probe = (): Promise<ServerIdentity> => probeServer(config.influx);
    // A short wait: an InfluxDB that does not answer now is asked again before the first write.
    const atStart = await probeServer(config.influx, 2000).catch(() => undefined);
    if (atStart?.kind === 'influxdb3') fail(`invalid configuration: ${wrongApiMessage(config.influx, atStart)}`);
    send = guardAgainstInfluxdb3(send, async () => atStart ?? probe(), config.influx, (message) => log.error({ target: influxTarget }, message));
  }
  const refusedLines = new RefusedLineRecorder({ wal, log, onAppended: () => void (stats.pointsAccepted += 1) });
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
    target: influxTarget,
    health: influxHealth,
    events: {
      written: (count) => {
        stats.pointsWritten += count;
      },
      rejected: (line, reason) => {
        stats.pointsRejectedByInflux += 1;
        log.warn({ line: line.slice(0, 300), error: reason }, 'InfluxDB rejected a point for good');
        refusedLines.record(line, reason);
      },
      retrying: () => {
        stats.writeRetries += 1;
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
  const readiness = () => assessReadiness({
    stopping, brokerConnected: source.connected, brokerDisconnectedSinceMs: source.disconnectedSinceMs, append: wal.appendState, influx: influxHealth.state, walDirSetting, influxTarget,
  });
  const server = config.pipeline.httpPort === 0
    ? undefined
    : await startHealthServer(config.pipeline.httpPort, metrics.registry, readiness, config.pipeline.httpHost).catch((error: NodeJS.ErrnoException) =>
        fail(`HTTP_PORT=${config.pipeline.httpPort} on HTTP_HOST=${config.pipeline.httpHost}: cannot listen (${error.code ?? error.message})`),
      );

  // The pipeline's health as points, through the same log as everything else.
  // Skipped while the log takes nothing (full, or the disk refuses): the
  // point would only wait in memory. Never throws: a timer's uncaught error
  // would end the process, and a full disk must not.
  const statsTimer = setInterval(() => {
    if (wal.appendState.kind !== 'open') return;
    try {
      const point = statsPoint(config.mqtt.clientId, stats, {
        rejects: rejects.total,
        walBytes: wal.totalBytes,
        walUnreadBytes: wal.unreadBytes,
        brokerConnected: source.connected,
        influxUp: influxHealth.state.kind !== 'failing',
        devicesKnown: directory.liveness.size,
        ...(rollupBook !== undefined && { rollups: rollupBook.counters }),
      }, Date.now());
      const appended = wal.append([encodePoint(point)]);
      if (appended === undefined) stats.pointsAccepted += 1;
      else appended.then(() => void (stats.pointsAccepted += 1), () => {});
    } catch (error) {
      log.warn({ error: (error as Error).message }, 'could not log the ingestor_stats point');
    }
  }, config.pipeline.statsIntervalMs);
  statsTimer.unref();

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: no new messages, writing what the log holds');
    clearInterval(statsTimer);
    liveness.stop();
    // The open minutes' rollups, as they are, while the log still takes points (rollups/ticker.ts).
    await rollups?.flush();
    // Messages waiting for room in the log are not acknowledged: the broker keeps them.
    wal.stopTaking('the ingestor is stopping');
    // SHUTDOWN_TIMEOUT_MS bounds the whole stop, the MQTT client's close
    // included: a broker that stops answering (but keeps the TCP connection)
    // never closes it. Messages are refused from the start of stop() on, so
    // the log takes nothing more from the source either way.
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.pipeline.shutdownTimeoutMs).unref());
    const sourceStopped = source.stop().then(
      () => 'stopped' as const,
      (error: unknown) => {
        log.warn({ error: (error as Error).message }, 'closing the MQTT connection failed');
        return 'stopped' as const;
      },
    );
    // Everything acknowledged is in the log, which is durable: wait for
    // InfluxDB only while it takes writes. Held presence events go into the
    // log first (if it has room: it no longer waits for any).
    const ended = (await Promise.race([sourceStopped, deadline])) === 'timeout'
      ? 'mqtt_timeout' as const
      : await Promise.race([
          ingest.flushHeldPresence().then(() => shipper.drain()).then(() => 'drained' as const),
          influxHealth.whenFailing().then(() => 'influx_failing' as const),
          deadline,
        ]);
    shipper.stop();
    wal.close();
    await directory.save();
    server?.close();
    const summary = { ...stats, messagesByRoute: Object.fromEntries(stats.messagesByRoute), rejects: rejects.counts(), walBytes: wal.totalBytes, unsentBytes: wal.unconfirmedBytes };
    if (ended === 'drained') log.info({ stats: summary }, 'stopped');
    else if (ended === 'influx_failing') log.warn({ stats: summary }, `stopped without waiting for InfluxDB: ${describeInfluxState(influxHealth.state, influxTarget)}; the points not yet written stay in the write-ahead log for the next start`);
    else if (ended === 'mqtt_timeout') log.warn({ stats: summary }, `stopped after SHUTDOWN_TIMEOUT_MS=${config.pipeline.shutdownTimeoutMs} without the MQTT connection closing (the broker does not answer); what it holds unacknowledged stays with it, and the points not yet written stay in the write-ahead log for the next start`);
    else log.warn({ stats: summary }, `stopped after SHUTDOWN_TIMEOUT_MS=${config.pipeline.shutdownTimeoutMs} with points not yet written; they stay in the write-ahead log for the next start`);
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void shutdown(signal));
  }
  shipper.start();
  source.start();
  liveness.start();
  rollups?.start();
}

// --help, --version and unknown flags first: nothing is read or connected before.
commandLine({
  name: 'ingestor',
  usage: `Usage: npm run ingestor   (built: node dist/ingestor/main.js)

Subscribes to the MQTT broker, turns messages and device presence into points,
keeps them in a write-ahead log on disk and writes them to InfluxDB. Configured
by environment variables only (a .env file in the working directory fills in
what the environment leaves unset). Exit codes: 0 after a clean stop, 2 bad
configuration or an unusable write-ahead log / port.

Flags
`,
  schemas: [INGESTOR_SCHEMA, COMMON_SCHEMA],
});
await run(readConfig());
