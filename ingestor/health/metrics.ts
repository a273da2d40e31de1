/**
 * The pipeline's figures in Prometheus form. One registry per process, built
 * from the stage objects (no package-level state); counters are read from the
 * shared PipelineStats at scrape time, so every stage counts in one place.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PipelineStats } from '../pipeline/stats.ts';
import type { RejectLog } from '../pipeline/rejects.ts';
import type { WriteAheadLog } from '../wal/wal.ts';
import type { InfluxState } from '../writer/influx-health.ts';

export interface MetricSources {
  readonly stats: PipelineStats;
  readonly rejects: RejectLog;
  readonly wal: WriteAheadLog;
  readonly brokerConnected: () => boolean;
  readonly influx: () => InfluxState;
}

export interface PipelineMetrics {
  readonly registry: Registry;
  /** Seconds one write request took, whatever its outcome. */
  readonly writeDuration: Histogram;
}

function counterFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function gaugeFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

export function createMetrics(sources: MetricSources): PipelineMetrics {
  const { stats, rejects, wal } = sources;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sensorflow_' });

  new Counter({
    name: 'sensorflow_messages_received_total',
    help: 'MQTT messages taken from the broker, by route',
    labelNames: ['route'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [route, count] of stats.messagesByRoute) this.inc({ route }, count);
    },
  });
  new Counter({
    name: 'sensorflow_rejects_total',
    help: 'Messages that yielded no point, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of Object.entries(rejects.counts())) this.inc({ reason }, count);
    },
  });
  counterFrom(registry, 'sensorflow_points_accepted_total', 'Points appended to the write-ahead log', () => stats.pointsAccepted);
  counterFrom(registry, 'sensorflow_points_written_total', 'Points InfluxDB confirmed', () => stats.pointsWritten);
  counterFrom(registry, 'sensorflow_points_rejected_by_influx_total', 'Points InfluxDB refused for good', () => stats.pointsRejectedByInflux);
  counterFrom(registry, 'sensorflow_presence_ignored_total', 'Presence events that changed nothing (stale, a session that moved, or a retained status already known)', () => stats.presenceIgnored);
  counterFrom(registry, 'sensorflow_write_retries_total', 'Write requests that will be retried', () => stats.writeRetries);
  gaugeFrom(registry, 'sensorflow_wal_bytes', 'Bytes in the write-ahead log', () => wal.totalBytes);
  gaugeFrom(registry, 'sensorflow_wal_segments', 'Segment files in the write-ahead log', () => wal.segmentCount);
  gaugeFrom(registry, 'sensorflow_wal_unread_bytes', 'Bytes in the log not yet sent to InfluxDB', () => wal.unreadBytes);
  gaugeFrom(registry, 'sensorflow_wal_full', '1 while the log is full and messages are not acknowledged', () => (wal.full ? 1 : 0));
  gaugeFrom(registry, 'sensorflow_wal_append_failing', '1 while the disk refuses appends (ENOSPC, EIO) and messages are not acknowledged', () => (wal.appendState.kind === 'failing' ? 1 : 0));
  gaugeFrom(registry, 'sensorflow_influx_up', '0 while every write to InfluxDB fails (unreachable, its certificate not trusted, 5xx, throttled or refused); 1 otherwise', () => (sources.influx().kind === 'failing' ? 0 : 1));
  gaugeFrom(registry, 'sensorflow_influx_down_since_seconds', 'Unix time at which writes to InfluxDB started failing; 0 while they succeed', () => {
    const state = sources.influx();
    return state.kind === 'failing' ? state.sinceMs / 1000 : 0;
  });
  gaugeFrom(registry, 'sensorflow_replay_remaining_bytes', 'Bytes of the previous run\'s backlog not yet read', () => wal.replay.totalBytes - wal.replay.doneBytes);
  gaugeFrom(registry, 'sensorflow_mqtt_connected', '1 while connected to the MQTT broker', () => (sources.brokerConnected() ? 1 : 0));
  const writeDuration = new Histogram({
    name: 'sensorflow_write_duration_seconds',
    help: 'Duration of write requests to InfluxDB',
    labelNames: ['outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { registry, writeDuration };
}
