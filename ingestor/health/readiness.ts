/**
 * What /readyz says, from the state of each stage. Pure.
 *
 * Not ready (503) means "not taking messages": stopping, no broker, or the
 * write-ahead log cannot take them (full, or the disk refuses appends).
 * InfluxDB being unreachable is a warning, not a reason: the log still takes
 * and acknowledges messages and keeps them until InfluxDB is back, so
 * pulling the ingestor out of service would not help. The warning says
 * since when, and `sensorflow_influx_up` / `sensorflow_influx_down_since_seconds`
 * carry the same in /metrics for alerting.
 */
import type { AppendState } from '../wal/wal.ts';
import { describeInfluxState, type InfluxState } from '../writer/influx-health.ts';
import type { Readiness } from './server.ts';

export interface ReadinessInputs {
  readonly stopping: boolean;
  readonly brokerConnected: boolean;
  /** When the broker connection was lost (or the source started). */
  readonly brokerDisconnectedSinceMs?: number | undefined;
  readonly append: AppendState;
  readonly influx: InfluxState;
  /** How the operator named the log directory, e.g. `WAL_DIR="data/wal"`. */
  readonly walDirSetting: string;
  /** How the operator named InfluxDB, e.g. `INFLUX_URL=http://influxdb:8086`. */
  readonly influxTarget: string;
}

export const WAL_FULL_REASON = 'write-ahead log full (WAL_MAX_BYTES): not acknowledging messages until InfluxDB catches up';

export function assessReadiness(inputs: ReadinessInputs): Readiness {
  const reasons: string[] = [];
  const warnings: string[] = [];
  if (inputs.stopping) reasons.push('stopping');
  if (!inputs.brokerConnected) {
    const since = inputs.brokerDisconnectedSinceMs;
    reasons.push(since === undefined ? 'not connected to the MQTT broker' : `not connected to the MQTT broker since ${new Date(since).toISOString()}`);
  }
  const { append } = inputs;
  if (append.kind === 'full') reasons.push(WAL_FULL_REASON);
  if (append.kind === 'failing') {
    reasons.push(`write-ahead log cannot append: ${append.code} on ${inputs.walDirSetting} since ${new Date(append.sinceMs).toISOString()}; not acknowledging messages, retrying until it can`);
  }
  const influx = describeInfluxState(inputs.influx, inputs.influxTarget);
  if (influx !== undefined) warnings.push(influx);
  return { ready: reasons.length === 0, reasons, warnings };
}
