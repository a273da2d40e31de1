/**
 * InfluxQL of the reading rules (temperature, humidity, battery) over the
 * ingestor's per-minute rollups (`telemetry_1m`, docs/data-model.md#rollups),
 * shared by the alert rules, the bench and the tests.
 *
 * Shape: the inner query reduces each device's rollups in the window to one
 * value (the mean as sum of sums / sum of counts, so several ingestors of a
 * shared group merge exactly; battery: the lowest reading of the newest
 * minute); the outer query keeps only the rows out of range. So Grafana gets
 * one series per device out of range, not one per device of the fleet, and
 * keeps as many alert instances. The inner scan still reads every device's
 * rollups in the window (one point per device per minute, a sixth of the raw
 * points at one message per 10 s): that is the floor of this design, measured
 * in docs/performance.md.
 *
 * Heartbeat: a second source, the rollup heartbeat (`device` = ''), gives one
 * constant row with a value inside the range, so "no device out of range" is
 * one Normal series, not an empty result: Grafana 12.0.2 makes an empty
 * result NoData for the whole rule (pkg/services/ngalert/eval/eval.go). Its
 * labels are all empty: Grafana drops empty labels before routing, and it
 * never fires. No heartbeat at all (no ingestor wrote a rollup in the
 * window) is NoData, handled as before (noDataState OK: the pipeline rules
 * report a silent ingestor).
 */

export const ROLLUP = 'telemetry_1m';
const PLACE = '"device", "location", "group"';

/** The heartbeat row: one constant value that the rule's threshold never fires for. */
function heartbeat(value: number, where: string): string {
  return `(SELECT last("devices") * 0 + ${value} AS "value" FROM "${ROLLUP}" WHERE ${where} AND "device" = '')`;
}

/** Mean over the window per device, only where outside [min, max]; plus the heartbeat. */
export function meanOutOfRangeQuery(field: string, min: number, max: number, where = '$timeFilter'): string {
  const perDevice = `(SELECT sum("${field}_sum") / sum("${field}_count") AS "value" FROM "${ROLLUP}" WHERE ${where} GROUP BY ${PLACE})`;
  return `SELECT "value" FROM ${perDevice}, ${heartbeat((min + max) / 2, where)} WHERE "value" < ${min} OR "value" > ${max} OR "device" = '' GROUP BY ${PLACE}`;
}

/** The lowest reading of each device's newest minute in the window, only where below min; plus the heartbeat. */
export function lastBelowQuery(field: string, min: number, where = '$timeFilter'): string {
  const perDevice = `(SELECT last("${field}_min") AS "value" FROM "${ROLLUP}" WHERE ${where} GROUP BY ${PLACE})`;
  return `SELECT "value" FROM ${perDevice}, ${heartbeat(min, where)} WHERE "value" < ${min} OR "device" = '' GROUP BY ${PLACE}`;
}
