/**
 * InfluxQL over `device_state`, the ingestor's liveness measurement (one
 * point per known device per ingestor instance every DEVICE_STATE_INTERVAL_S,
 * tags device/location/group/instance, fields state/online/offline_s/
 * silent_s/last_seen/since/source; docs/liveness.md). Shared by the alert
 * rules, the dashboards and the bench, so all three read the same merge.
 *
 * Cost: every query reads only a short window (`device_state.window` in
 * grafana/thresholds.yaml, two intervals by default), so it grows with the
 * number of devices × instances, not with message rate or history. It is one
 * level deep with one output series per device: measured on InfluxDB 1.6
 * (bench/suites/grafana.ts), the output series dominate (tens of µs each) and
 * every subquery level costs as much again, so the exact "newest since wins"
 * merge (top("since") over each instance's last point, three levels) was
 * dropped for these merges, all single-level:
 * - offline_s: the SMALLEST over the instances and the ticks in the window.
 *   An instance that sees the device back wins at once (a comeback resolves
 *   at the next evaluation); a device is offline only when every instance's
 *   every tick in the window says so, so the duration read is the one at the
 *   oldest tick in the window: alerts fire at most one window late, never
 *   early. Presence reaches every ingestor (subscribed outside the shared
 *   group), so views differ only until an instance's next tick, or until a
 *   dead instance's points leave the window.
 * - silent_s: the smallest, likewise (telemetry is shared among the members:
 *   the one that got the newest message knows best).
 * - online: the largest (1 online, 0 offline, -1 no presence source): offline
 *   only when every view says offline.
 * - state and the Online/Offline counts: `last()`, the newest tick's
 *   (dashboards only, where "now" matters more than caution); since and
 *   last_seen: the largest.
 * A device's label set is (device, location, group); `group` is "" where the
 * device has none (InfluxDB reports a missing GROUP BY tag as "").
 */

export const DEVICE_STATE = 'device_state';
/**
 * The devices in trouble (offline, or silent for DEVICE_TROUBLE_SILENT_AFTER)
 * in each instance's view, each instance's heartbeat (no `device` tag,
 * never in trouble), and one last point with offline_s = silent_s = 0 for a
 * device that left trouble (docs/liveness.md). The device alert rules read
 * this: their cost and series follow the devices in trouble, and the
 * heartbeat keeps their result non-empty while an ingestor reports, so that
 * "nobody in trouble" is Normal and only "no ingestor reports" is NoData.
 */
export const DEVICE_TROUBLE = 'device_trouble';
export const PLACE_TAGS = '"device", "location", "group"';

/** Far beyond any silence: subtracted from an offline device's silence so that it is never also "silent". */
export const NEVER_SECONDS = 1_000_000_000_000;

/** Seconds offline per device (0 unless every view in the window says offline). */
export function offlineSecondsQuery(where: string, measurement = DEVICE_STATE): string {
  return `SELECT min("offline_s") AS "offline_s" FROM "${measurement}" WHERE ${where} GROUP BY ${PLACE_TAGS}`;
}

/**
 * Seconds of silence beyond the device's limit (> 0: silent). An offline
 * device (every view says offline: `max("online")` is 0, so
 * `1 - max² = 1`) is pushed far below 0: the offline rules page for it, one
 * page per dead device, not two. A device without presence source (-1) or
 * online (1) is judged by its silence alone.
 */
function overLimit(limitSeconds: number): string {
  return `min("silent_s") - (1 - max("online") * max("online")) * ${NEVER_SECONDS} - ${limitSeconds} AS "over_s"`;
}

const regexAlternatives = (values: readonly string[]): string => values.map((v) => v.replace(/[\\^$*+?.()|{}[\]/]/g, (c) => `\\${c}`)).join('|');

/**
 * `over_s` per device: its silence minus its limit, `defaultSeconds` or its
 * group's override. Without overrides one level; with them one FROM per
 * override group plus one for the rest (two levels, each device read once).
 */
export function silenceOverLimitQuery(defaultSeconds: number, byGroup: ReadonlyMap<string, number>, where: string, measurement = DEVICE_STATE): string {
  if (byGroup.size === 0) return `SELECT ${overLimit(defaultSeconds)} FROM "${measurement}" WHERE ${where} GROUP BY ${PLACE_TAGS}`;
  const groups = [...byGroup.keys()];
  const source = (seconds: number, groupFilter: string) => `(SELECT ${overLimit(seconds)} FROM "${measurement}" WHERE ${where} AND ${groupFilter} GROUP BY ${PLACE_TAGS})`;
  const sources = [
    ...groups.map((g) => source(byGroup.get(g)!, `"group" =~ /^(${regexAlternatives([g])})$/`)),
    source(defaultSeconds, `"group" !~ /^(${regexAlternatives(groups)})$/`),
  ];
  return `SELECT "over_s" FROM ${sources.join(', ')} GROUP BY ${PLACE_TAGS}`;
}

/** One row per device for the Fleet overview table: state, since, last_seen, silent_s. */
export function deviceTableQuery(where: string): string {
  return `SELECT last("state") AS "state", max("since") AS "since", max("last_seen") AS "last_seen", min("silent_s") AS "silent_s" FROM "${DEVICE_STATE}" WHERE ${where} GROUP BY ${PLACE_TAGS}`;
}

/** How many devices have `online` = value (1 online, 0 offline, -1 no presence) at their newest tick: one row. */
export function countByOnlineQuery(value: 1 | 0 | -1, alias: string, where: string): string {
  return `SELECT count("online") AS "${alias}" FROM (SELECT last("online") AS "online" FROM "${DEVICE_STATE}" WHERE ${where} GROUP BY "device") WHERE "online" = ${value}`;
}

/**
 * One row per device in trouble now, for the Fleet overview's "Devices in
 * trouble" table: each device's newest `device_trouble` point in the window
 * (`last()`, as the dashboards read state: "now" matters more than caution
 * here; the rules take the smallest, which is near 0 at a device's first
 * trouble ticks and would hide it for a window), then only the rows with
 * offline_s or silent_s above 0. That drops the ingestors' heartbeats (no
 * device, both 0) and a device whose newest point says it left trouble (both
 * 0). Its cost follows the devices in trouble.
 */
export function troubleTableQuery(where: string): string {
  const inner = `SELECT last("state") AS "state", last("offline_s") AS "offline_s", last("silent_s") AS "silent_s", max("last_seen") AS "last_seen" FROM "${DEVICE_TROUBLE}" WHERE ${where} GROUP BY ${PLACE_TAGS}`;
  return `SELECT "state", "offline_s", "silent_s", "last_seen" FROM (${inner}) WHERE "offline_s" > 0 OR "silent_s" > 0 GROUP BY ${PLACE_TAGS}`;
}
