/**
 * InfluxQL over `device_state`, the ingestor's liveness measurement (one
 * point per known device per ingestor instance every DEVICE_STATE_INTERVAL_S,
 * tags device/location/group/instance, fields state/online/offline_s/
 * silent_s/last_seen/since/source; see docs/liveness.md). Shared by the alert
 * rules, the dashboards and the bench, so all three read the same merge.
 *
 * Every query reads only a short window (`device_state.window` in
 * grafana/thresholds.yaml, a few intervals): its cost grows with the number
 * of devices × instances, not with message rate or history length. Durations
 * come from the data (offline_s, silent_s), never from the window.
 *
 * Several ingestors each write their own view (tag `instance`); the views are
 * merged here, per device:
 * - state, since, online, offline_s: from the instance whose view has the
 *   newest `since` (it saw the latest presence change): each instance's newest
 *   point in the window, then `top("since", 1)` across instances;
 * - silent_s: the smallest across instances (telemetry of one device is shared
 *   among the group's members; the one that got its newest message knows best);
 * - last_seen: the largest across instances.
 * A device's label set is (device, location, group); `group` is "" where the
 * device has none (InfluxDB reports a missing GROUP BY tag as "").
 */

export const DEVICE_STATE = 'device_state';
export const PLACE_TAGS = '"device", "location", "group"';

/** Each instance's newest view of each device: `last()` of the fields, grouped per instance. */
function perInstance(fields: readonly string[], where: string, groupBy = PLACE_TAGS): string {
  const selected = fields.map((f) => `last("${f}") AS "${f}"`).join(', ');
  return `SELECT ${selected} FROM "${DEVICE_STATE}" WHERE ${where} GROUP BY ${groupBy}, "instance"`;
}

/**
 * `fields` of the view with the newest `since` across instances, one row per
 * device (columns: time, since, ...fields).
 */
export function newestViewQuery(fields: readonly string[], where: string): string {
  const others = fields.map((f) => `"${f}"`).join(', ');
  return `SELECT top("since", 1) AS "since", ${others} FROM (${perInstance(['since', ...fields], where)}) GROUP BY ${PLACE_TAGS}`;
}

/** One value column `field` from the newest view: what an alert rule needs (one frame per device). */
export function newestFieldQuery(field: string, where: string): string {
  return `SELECT "${field}" FROM (${newestViewQuery([field], where)}) GROUP BY ${PLACE_TAGS}`;
}

/** Seconds since each device's newest message, the smallest across instances. */
export function silentSecondsQuery(where: string): string {
  return `SELECT min("silent_s") AS "silent_s" FROM (${perInstance(['silent_s'], where)}) GROUP BY ${PLACE_TAGS}`;
}

/** Newest message (last_seen, the largest) and silent_s (the smallest) per device, grouped by device only (for a join by device). */
export function lastSeenQuery(where: string): string {
  return `SELECT max("last_seen") AS "last_seen", min("silent_s") AS "silent_s" FROM (${perInstance(['last_seen', 'silent_s'], where, '"device"')}) GROUP BY "device"`;
}

/** Far beyond any silence: an offline device's limit, so that it is never also "silent". */
export const NEVER_SECONDS = 1_000_000_000_000;

const regexAlternatives = (values: readonly string[]): string => values.map((v) => v.replace(/[\\^$*+?.()|{}[\]/]/g, (c) => `\\${c}`)).join('|');

/**
 * The silence limit of each device in seconds: `defaultSeconds`, or its
 * group's override; NEVER_SECONDS while its merged state is offline (the
 * offline rules page for it; one page per dead device, not two). `online` is
 * 1, 0 or -1, so `1 - online * online` is 1 exactly when offline.
 * One FROM per override group plus one for the rest: each device is read once.
 */
export function silenceLimitQuery(defaultSeconds: number, byGroup: ReadonlyMap<string, number>, where: string): string {
  const state = newestViewQuery(['online'], where);
  const limit = (seconds: number, groupFilter: string) =>
    `SELECT "online" * 0 + ${seconds} + (1 - "online" * "online") * ${NEVER_SECONDS} AS "limit" FROM (${state})${groupFilter} GROUP BY ${PLACE_TAGS}`;
  const groups = [...byGroup.keys()];
  if (groups.length === 0) return limit(defaultSeconds, '');
  const sources = [
    ...groups.map((g) => `(${limit(byGroup.get(g)!, ` WHERE "group" =~ /^(${regexAlternatives([g])})$/`)})`),
    `(${limit(defaultSeconds, ` WHERE "group" !~ /^(${regexAlternatives(groups)})$/`)})`,
  ];
  return `SELECT "limit" FROM ${sources.join(', ')} GROUP BY ${PLACE_TAGS}`;
}
