/** The pipeline's own counters, shared by its stages, reported by /metrics and as `ingestor_stats` points. */
import { float, type Point } from '../model/point.ts';
import type { RollupCounters } from '../rollups/book.ts';

export interface PipelineStats {
  messagesIn: number;
  /** Messages by the handler that took them (a route's name, `sparkplug`, `presence-status`, …; `none` when nothing matched). */
  readonly messagesByRoute: Map<string, number>;
  /** Lines appended to the log: data, presence, rejects and the ingestor's own stats. */
  pointsAccepted: number;
  pointsWritten: number;
  pointsRejectedByInflux: number;
  writeRetries: number;
  /** Presence events that changed nothing: stale, a session that moved, or a retained status already known. */
  presenceIgnored: number;
  /** `device_state` ticks written. */
  deviceStateTicks: number;
  /** `device_state` ticks skipped: catching up, or the log took nothing. */
  deviceStateSkipped: number;
  /** `device_state` points skipped because line protocol cannot carry them (a device's name or location). */
  deviceStateInvalid: number;
  /** Devices removed by DEVICE_FORGET_AFTER. */
  devicesForgotten: number;
  /** Whether the last tick found the ingestor catching up (liveness/catch-up.ts). */
  catchingUp: boolean;
}

export const emptyStats = (): PipelineStats => ({
  messagesIn: 0,
  messagesByRoute: new Map(),
  pointsAccepted: 0,
  pointsWritten: 0,
  pointsRejectedByInflux: 0,
  writeRetries: 0,
  presenceIgnored: 0,
  deviceStateTicks: 0,
  deviceStateSkipped: 0,
  deviceStateInvalid: 0,
  devicesForgotten: 0,
  catchingUp: false,
});

export const STATS_MEASUREMENT = 'ingestor_stats';

export interface StatsGauges {
  readonly rejects: number;
  readonly walBytes: number;
  readonly walUnreadBytes: number;
  readonly brokerConnected: boolean;
  /** False while every write to InfluxDB fails: the point lands later, so the outage shows on a dashboard. */
  readonly influxUp: boolean;
  /** Devices in the liveness book. */
  readonly devicesKnown?: number;
  /** The rollup book's counters (rollups/book.ts), when ROLLUPS is on. */
  readonly rollups?: Readonly<RollupCounters>;
}

/** The `ingestor_stats` point for this moment. Pure. */
export function statsPoint(instance: string, stats: PipelineStats, gauges: StatsGauges, nowMs: number): Point {
  return {
    measurement: STATS_MEASUREMENT,
    tags: { instance },
    fields: {
      messages_in: float(stats.messagesIn),
      points_accepted: float(stats.pointsAccepted),
      points_written: float(stats.pointsWritten),
      points_rejected_by_influx: float(stats.pointsRejectedByInflux),
      write_retries: float(stats.writeRetries),
      rejects: float(gauges.rejects),
      backlog_bytes: float(gauges.walUnreadBytes),
      wal_bytes: float(gauges.walBytes),
      mqtt_connected: float(gauges.brokerConnected ? 1 : 0),
      influx_up: float(gauges.influxUp ? 1 : 0),
      devices_known: float(gauges.devicesKnown ?? 0),
      devices_forgotten: float(stats.devicesForgotten),
      device_state_ticks: float(stats.deviceStateTicks),
      device_state_skipped: float(stats.deviceStateSkipped),
      device_state_invalid: float(stats.deviceStateInvalid),
      catching_up: float(stats.catchingUp ? 1 : 0),
      ...(gauges.rollups !== undefined && {
        rollup_points_repeated: float(gauges.rollups.repeated),
        rollup_points_late: float(gauges.rollups.late),
        rollup_minutes_forced: float(gauges.rollups.forced),
        rollup_points_dropped: float(gauges.rollups.dropped),
        rollup_sums_overflowed: float(gauges.rollups.overflowed),
      }),
    },
    timestampMs: nowMs,
  };
}
