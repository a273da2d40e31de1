/**
 * The four dashboards, as code. `npm run grafana` writes them to
 * grafana/dashboards/*.json; a unit test fails when the committed JSON and
 * this file disagree. Every query is raw InfluxQL over the data model in the
 * docs/data-model.md, filtered by the location / group / device variables
 * as `=~ /^$var$/` (multi-select and All, which is `.*`).
 */
import { DATASOURCE, type Dashboard, type DashboardLink, type FieldDefaults, type FieldOverride, type InfluxTarget, type Panel, type QueryVariable, type Threshold } from './model.ts';
import { countByOnlineQuery, deviceTableQuery, troubleTableQuery } from './device-state.ts';
import type { Thresholds } from './thresholds.ts';

export const DASHBOARD_UIDS = {
  fleet: 'sensorflow-fleet',
  telemetry: 'sensorflow-telemetry',
  presence: 'sensorflow-presence',
  pipeline: 'sensorflow-pipeline',
} as const;

/**
 * At most this many devices in the Device variable's list: a dropdown of
 * 100,000 names is unusable, and its query grows with them
 * (docs/performance.md). Location and Group narrow it; a device beyond it
 * still opens from a link (`var-device=…`), as Grafana keeps a value the URL
 * sets (below, pickedDeviceVariable).
 */
export const DEVICE_CHOICES_LIMIT = 1000;

/** Panel ids the alert rules link to (`dashboardUid` / `panelId`). */
export const PANEL_IDS = {
  fleetDevices: 4,
  temperature: 1,
  humidity: 2,
  battery: 3,
  presenceTimeline: 1,
  pipelineRetries: 3,
  pipelineRejects: 4,
  pipelineBacklog: 5,
  pipelineMessages: 1,
} as const;

// Filters shared by every panel. A tag a point lacks (telemetry of a device
// with no registry group) compares as "", which `.*` (All) matches.
const WHERE_PLACE = `"location" =~ /^$location$/ AND "group" =~ /^$group$/ AND "device" =~ /^$device$/`;

const GREEN = 'green';
const RED = 'red';

function target(refId: string, query: string, options: { format?: 'time_series' | 'table'; alias?: string } = {}): InfluxTarget {
  return {
    refId,
    datasource: DATASOURCE,
    rawQuery: true,
    query,
    resultFormat: options.format ?? 'time_series',
    ...(options.alias !== undefined && { alias: options.alias }),
  };
}

function steps(...list: [number | null, string][]): { mode: 'absolute'; steps: Threshold[] } {
  return { mode: 'absolute', steps: list.map(([value, color]) => ({ value, color })) };
}

const legend = (calcs: string[] = []) => ({ displayMode: calcs.length > 0 ? 'table' : 'list', placement: 'bottom', showLegend: true, calcs });
const tooltip = { mode: 'multi', sort: 'desc' };

interface PanelSpec {
  id: number;
  title: string;
  description: string;
  grid: [x: number, y: number, w: number, h: number];
  targets: InfluxTarget[];
  defaults?: FieldDefaults;
  overrides?: FieldOverride[];
  transformations?: Panel['transformations'];
}

function panel(type: Panel['type'], spec: PanelSpec, options: Record<string, unknown>): Panel {
  const [x, y, w, h] = spec.grid;
  return {
    id: spec.id,
    type,
    title: spec.title,
    description: spec.description,
    gridPos: { x, y, w, h },
    datasource: DATASOURCE,
    targets: spec.targets,
    options,
    fieldConfig: { defaults: spec.defaults ?? {}, overrides: spec.overrides ?? [] },
    ...(spec.transformations !== undefined && { transformations: spec.transformations }),
  };
}

function timeseries(spec: PanelSpec, calcs: string[] = ['min', 'max', 'mean', 'lastNotNull'], thresholdsStyle = 'off'): Panel {
  return panel('timeseries', {
    ...spec,
    defaults: {
      ...spec.defaults,
      custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 0, showPoints: 'never', spanNulls: false, thresholdsStyle: { mode: thresholdsStyle } },
    },
  }, { legend: legend(calcs), tooltip });
}

function stat(spec: PanelSpec): Panel {
  return panel('stat', spec, {
    graphMode: 'none',
    colorMode: 'background',
    justifyMode: 'auto',
    textMode: 'value',
    wideLayout: true,
    showPercentChange: false,
    percentChangeColorMode: 'standard',
    orientation: 'auto',
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
  });
}

function stateTimeline(spec: PanelSpec): Panel {
  return panel('state-timeline', {
    ...spec,
    defaults: { ...spec.defaults, custom: { fillOpacity: 80, lineWidth: 0, spanNulls: false } },
  }, { showValue: 'never', rowHeight: 0.9, mergeValues: true, alignValue: 'left', legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] }, tooltip: { mode: 'single', sort: 'none' } });
}

function table(spec: PanelSpec, sortBy: { displayName: string; desc: boolean }[] = []): Panel {
  return panel('table', spec, { frameIndex: 0, showHeader: true, cellHeight: 'sm', sortBy });
}

function bargauge(spec: PanelSpec): Panel {
  return panel('bargauge', spec, {
    displayMode: 'basic',
    valueMode: 'color',
    namePlacement: 'auto',
    showUnfilled: true,
    sizing: 'auto',
    minVizWidth: 8,
    minVizHeight: 16,
    maxVizHeight: 300,
    orientation: 'horizontal',
    legend: { displayMode: 'list', placement: 'bottom', showLegend: false, calcs: [] },
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: true },
  });
}

function variable(name: string, label: string, description: string, query: string): QueryVariable {
  return {
    type: 'query', name, label, description, datasource: DATASOURCE, query, definition: query,
    refresh: 1, multi: true, includeAll: true, allValue: '.*',
    current: { text: ['All'], value: ['$__all'] }, options: [], sort: 1, regex: '', hide: 0,
  };
}

const DEVICE_QUERY = `SHOW TAG VALUES FROM "device_state" WITH KEY = "device" WHERE "location" =~ /^$location$/ AND "group" =~ /^$group$/ LIMIT ${DEVICE_CHOICES_LIMIT}`;
const DEVICE_LIMIT_TEXT = `Lists the first ${DEVICE_CHOICES_LIMIT.toLocaleString('en-US')} by name: narrow by Location and Group to reach the others.`;

/**
 * The Device variable of the per-device dashboards (telemetry, presence):
 * no All, so their panels draw the devices picked, never the whole fleet
 * (10,000 lines cost InfluxDB about 10 s per panel, docs/performance.md).
 * No saved choice (`current` lists empty, as Grafana's dashboard schema
 * requires both): Grafana 12 picks the first option. Read in Grafana
 * 12.0.2's dashboard-scene `transformSaveModelToScene.ts`
 * (`createSceneVariableFromVariableModel`: `value: current?.value ?? ''`,
 * `defaultToAll: Boolean(includeAll)`) and @grafana/scenes
 * `MultiValueVariable.ts` (`getStateUpdateGivenNewOptions`: a multi value
 * with none of its values among the options becomes `[options[0]]` unless
 * `defaultToAll`; so does `$__all` when `includeAll` is false). So a change
 * of Location or Group moves it to the first device there.
 * A value set by the URL (`var-device=dev-7`) is kept even when not among
 * the options (`skipNextValidation`, `interceptStateUpdateAfterValidation`),
 * which keeps the Fleet overview's device links working beyond the list's
 * limit. The same rule keeps a URL's `$__all` as All (every listed device):
 * the Fleet overview, whose Device is All, therefore links here with
 * Location and Group only (fleetLinks).
 */
const pickedDeviceVariable: QueryVariable = {
  type: 'query', name: 'device', label: 'Device', datasource: DATASOURCE, query: DEVICE_QUERY, definition: DEVICE_QUERY,
  description: `The devices drawn (one or more; no All: the panels draw the devices picked, not the fleet). Opens on the first device at the chosen locations and groups. ${DEVICE_LIMIT_TEXT}`,
  refresh: 1, multi: true, includeAll: false, current: { text: [], value: [] }, options: [], sort: 1, regex: '', hide: 0,
};

export const placeVariables: readonly QueryVariable[] = [
  variable('location', 'Location', 'Where devices are (the topic\'s location level or the registry).',
    'SHOW TAG VALUES FROM "device_state" WITH KEY = "location"'),
  variable('group', 'Group', 'The registry group (DEVICES_FILE). Devices without a group (not in the registry, or listed without one) have no group tag, so no choice lists them: they show under All only.',
    'SHOW TAG VALUES FROM "device_state" WITH KEY = "group" WHERE "location" =~ /^$location$/'),
  variable('device', 'Device', `Devices at the chosen locations and groups (All: every device, listed or not). ${DEVICE_LIMIT_TEXT}`, DEVICE_QUERY),
];

/** The per-device dashboards' variables: Location and Group as everywhere, Device without All. */
export const pickedPlaceVariables: readonly QueryVariable[] = [placeVariables[0]!, placeVariables[1]!, pickedDeviceVariable];

const instanceVariable = variable('instance', 'Ingestor', 'Ingestor instances (their MQTT client id).', 'SHOW TAG VALUES FROM "ingestor_stats" WITH KEY = "instance"');

const links: DashboardLink[] = [{
  title: 'sensorflow', type: 'dashboards', icon: 'dashboard', tooltip: 'The other sensorflow dashboards, same time range and filters',
  tags: ['sensorflow'], asDropdown: false, targetBlank: false, includeVars: true, keepTime: true,
}];

/**
 * The Fleet overview's links: Location and Group and the time range, never
 * its Device, which is All there and would open the per-device dashboards on
 * every device (see pickedDeviceVariable). A link's url is interpolated and
 * `keepTime` adds the range (Grafana 12.0.2 `LinkSrv.getLinkUrl`);
 * `:queryparam` writes `var-location=a&var-location=b`, and All as
 * `var-location=All`, which a variable with All reads back as All
 * (@grafana/scenes `CustomAllValue.formatter`, `handleLegacyUrlAllValue`).
 */
const PLACE_PARAMS = '${location:queryparam}&${group:queryparam}';
const fleetLinks: DashboardLink[] = [
  ['Sensor telemetry', 'sensor-telemetry', DASHBOARD_UIDS.telemetry],
  ['Device presence', 'device-presence', DASHBOARD_UIDS.presence],
  ['Pipeline health', 'pipeline-health', DASHBOARD_UIDS.pipeline],
].map(([title, slug, uid]) => ({
  title: title!, type: 'link' as const, icon: 'dashboard', tooltip: `${title}: same time range, locations and groups (the first device there)`,
  url: `/d/${uid}/${slug}?${PLACE_PARAMS}`, tags: [], asDropdown: false, targetBlank: false, includeVars: false, keepTime: true,
}));

function dashboard(uid: string, title: string, description: string, variables: readonly QueryVariable[], panels: Panel[], dashboardLinks: DashboardLink[] = links): Dashboard {
  return {
    uid, title, description, tags: ['sensorflow'], timezone: 'browser', editable: false, graphTooltip: 1,
    time: { from: 'now-6h', to: 'now' }, refresh: '30s', schemaVersion: 41, version: 1, links: dashboardLinks,
    templating: { list: variables }, annotations: { list: [] }, panels,
  };
}

const stateMappings = [{
  type: 'value',
  options: {
    online: { text: 'online', color: GREEN, index: 0 },
    offline: { text: 'offline', color: RED, index: 1 },
    unknown: { text: 'no presence', color: 'blue', index: 2 },
    forgotten: { text: 'forgotten', color: 'text', index: 3 },
  },
}];

/**
 * The device tables' columns: Device, Location, Group, State, then `more`
 * (`[field, title]`), in this order, the time column hidden. Tag columns
 * arrive in Go map order (Grafana's InfluxQL table frames): fixed here.
 */
function organizeDeviceColumns(more: readonly (readonly [string, string])[]): { id: string; options: Record<string, unknown> } {
  const columns: readonly (readonly [string, string])[] = [['device', 'Device'], ['location', 'Location'], ['group', 'Group'], ['state', 'State'], ...more];
  return {
    id: 'organize',
    options: {
      excludeByName: { Time: true },
      indexByName: Object.fromEntries(columns.map(([field], index) => [field, index])),
      renameByName: Object.fromEntries(columns),
    },
  };
}

/** Device names link to their dashboards; the state is coloured. */
const deviceAndStateOverrides = (): FieldOverride[] => [
  { matcher: { id: 'byName', options: 'Device' }, properties: [{ id: 'links', value: deviceLinks() }] },
  { matcher: { id: 'byName', options: 'State' }, properties: [{ id: 'mappings', value: stateMappings }, { id: 'custom.cellOptions', value: { type: 'color-background' } }] },
];

const onlineMappings = [{
  type: 'value',
  options: {
    '0': { text: 'offline', color: RED, index: 0 },
    '1': { text: 'online', color: GREEN, index: 1 },
  },
}];

/** A link from a table's device column to the device's own dashboards. */
function deviceLinks(): { title: string; url: string }[] {
  return [
    { title: 'Presence of ${__value.text}', url: `/d/${DASHBOARD_UIDS.presence}/device-presence?var-device=\${__value.raw}&\${__url_time_range}` },
    { title: 'Readings of ${__value.text}', url: `/d/${DASHBOARD_UIDS.telemetry}/sensor-telemetry?var-device=\${__value.raw}&\${__url_time_range}` },
  ];
}

// ------------------------------------------------------------ Fleet overview

function fleet(t: Thresholds): Dashboard {
  const window = t.deviceState.window.text;
  // "Now" from device_state: each device's newest point within the window,
  // merged across ingestor instances (grafana/src/device-state.ts). It does
  // not depend on the time picker, and a device silent for days is still there.
  const now = `time > now() - ${window} AND ${WHERE_PLACE}`;
  return dashboard(DASHBOARD_UIDS.fleet, 'Fleet overview',
    'Every device at a glance: how many are online, offline or without presence now, which went away in the time range, and a table of every known device with its state, since when, when it was last seen and how long it has been silent. Click a device to open its presence and readings.',
    placeVariables, [
      stat({
        id: 1, title: 'Online now', grid: [0, 0, 6, 4],
        description: 'Devices whose newest presence event (EMQX, last will or Sparkplug) says online (device_state).',
        targets: [target('A', countByOnlineQuery(1, 'online', now))],
        defaults: { unit: 'none', decimals: 0, noValue: '0', color: { mode: 'fixed', fixedColor: GREEN } },
      }),
      stat({
        id: 2, title: 'Offline now', grid: [6, 0, 6, 4],
        description: `Devices whose newest presence event says offline (device_state). Alerts fire once offline for ${t.presence.offlineWarningAfter.text} (warning) and ${t.presence.offlineCriticalAfter.text} (critical), measured from the event's own time.`,
        targets: [target('A', countByOnlineQuery(0, 'offline', now))],
        defaults: { unit: 'none', decimals: 0, noValue: '0', thresholds: steps([null, GREEN], [1, RED]) },
      }),
      stat({
        id: 3, title: 'Went offline in range', grid: [12, 0, 6, 4],
        description: 'Devices with at least one disconnect or last will in the selected time range (back since or not).',
        targets: [target('A', `SELECT count("offline") AS "devices" FROM (SELECT min("online") AS "offline" FROM "device_presence" WHERE $timeFilter AND "online" = 0 AND ${WHERE_PLACE} GROUP BY "device")`)],
        defaults: { unit: 'none', decimals: 0, noValue: '0', thresholds: steps([null, GREEN], [1, 'orange']) },
      }),
      stat({
        id: 5, title: 'Readings in range', grid: [18, 0, 6, 4],
        description: `Telemetry points (field ${t.silence.field}) received in the selected time range, counted from the ingestor's per-minute rollups (telemetry_location_1m; needs ROLLUPS on): closed minutes only, so the newest minute or two are not counted yet, and the Device filter does not apply.`,
        // From telemetry_location_1m (docs/data-model.md#rollups): one point per location and group a minute instead of
        // every raw point (5.2 s at 10,000 devices × 6 h from raw telemetry, docs/performance.md). Its `_count` is the
        // number of readings of the field in that minute, summed over the ingestor instances.
        targets: [target('A', `SELECT sum("${t.silence.field}_count") AS "readings" FROM "telemetry_location_1m" WHERE $timeFilter AND "location" =~ /^$location$/ AND "group" =~ /^$group$/`)],
        defaults: { unit: 'short', noValue: '0', thresholds: steps([null, RED], [1, GREEN]) },
      }),
      table({
        id: 7, title: 'Devices in trouble', grid: [0, 4, 24, 7],
        description: `The devices in trouble now, from device_trouble (docs/liveness.md): offline, or silent for the ingestor's DEVICE_TROUBLE_SILENT_AFTER (5 min by default) or more; longest silence first. The alerts fire from ${t.presence.offlineWarningAfter.text} offline and ${t.silence.after.text} silent. Empty when every device is fine. Device names link to their dashboards.`,
        // Reads only the devices in trouble (plus the ingestors' heartbeats, which the outer
        // filter drops with the devices that left trouble): its cost follows the trouble, not the fleet.
        targets: [target('A', troubleTableQuery(`time > now() - ${window} AND ${WHERE_PLACE}`), { format: 'table' })],
        transformations: [organizeDeviceColumns([['offline_s', 'Offline for'], ['silent_s', 'Silent for'], ['last_seen', 'Last seen']])],
        overrides: [
          ...deviceAndStateOverrides(),
          { matcher: { id: 'byName', options: 'Offline for' }, properties: [{ id: 'unit', value: 's' }] },
          { matcher: { id: 'byName', options: 'Silent for' }, properties: [{ id: 'unit', value: 's' }] },
          { matcher: { id: 'byName', options: 'Last seen' }, properties: [{ id: 'unit', value: 'dateTimeFromNow' }] },
        ],
      }, [{ displayName: 'Silent for', desc: true }]),
      table({
        id: PANEL_IDS.fleetDevices, title: 'Devices', grid: [0, 11, 24, 14],
        description: `One row per known device, from device_state alone: place, state (online, offline, or unknown for a device without presence source) and since when, when its newest message arrived, and how long it has been silent; the longest silent first, so offline and silent devices lead. Silent longer than ${t.silence.after.text} raises an alert. Device names link to their dashboards.`,
        // One query, one table frame: no join (after a join Grafana 12 names
        // each frame's time column after its frame, "Time device_state").
        targets: [target('A', deviceTableQuery(now), { format: 'table' })],
        transformations: [organizeDeviceColumns([['since', 'State since'], ['last_seen', 'Last seen'], ['silent_s', 'Silent for']])],
        overrides: [
          ...deviceAndStateOverrides(),
          { matcher: { id: 'byName', options: 'State since' }, properties: [{ id: 'unit', value: 'dateTimeFromNow' }] },
          { matcher: { id: 'byName', options: 'Last seen' }, properties: [{ id: 'unit', value: 'dateTimeFromNow' }] },
          { matcher: { id: 'byName', options: 'Silent for' }, properties: [{ id: 'unit', value: 's' }, { id: 'thresholds', value: steps([null, GREEN], [t.silence.after.seconds, 'orange']) }, { id: 'custom.cellOptions', value: { type: 'color-text' } }] },
        ],
      }, [{ displayName: 'Silent for', desc: true }]),
      timeseries({
        id: 6, title: 'Disconnects', grid: [0, 25, 24, 7],
        description: 'Disconnects and last wills per interval, all sources together.',
        targets: [target('A', `SELECT count("online") AS "disconnects" FROM "device_presence" WHERE $timeFilter AND "online" = 0 AND ${WHERE_PLACE} GROUP BY time($__interval) fill(0)`)],
        defaults: { unit: 'short', decimals: 0 },
      }, ['sum']),
    ], fleetLinks);
}

// --------------------------------------------------------- Sensor telemetry

function perDevice(id: number, title: string, field: string, unit: string, grid: PanelSpec['grid'], thresholds: { mode: 'absolute'; steps: Threshold[] }, description: string): Panel {
  return timeseries({
    id, title, grid, description,
    targets: [target('A', `SELECT mean("${field}") FROM "telemetry" WHERE $timeFilter AND ${WHERE_PLACE} GROUP BY time($__interval), "device" fill(none)`, { alias: '$tag_device' })],
    defaults: { unit, thresholds },
  }, ['min', 'max', 'mean', 'lastNotNull'], 'line+area');
}

/** The "Min / mean / max per device" table's columns, in the order shown. */
export const SUMMARY_COLUMNS = ['device', 'location', 'temperature min', 'temperature mean', 'temperature max', 'humidity min', 'humidity max', 'battery min'] as const;

function telemetry(t: Thresholds): Dashboard {
  const { temperature, humidity, battery } = t.readings;
  return dashboard(DASHBOARD_UIDS.telemetry, 'Sensor telemetry',
    'Readings of the devices picked (Device: one or more, the first device by default) and per location over time, with the out-of-range bands the alert rules use (grafana/thresholds.yaml).',
    pickedPlaceVariables, [
      perDevice(PANEL_IDS.temperature, 'Temperature per device', 'temperature', 'celsius', [0, 0, 12, 9],
        steps([null, 'blue'], [temperature.min, GREEN], [temperature.max, RED]),
        `Mean per interval. Outside ${temperature.min}–${temperature.max} °C for ${temperature.for.text} raises an alert.`),
      perDevice(PANEL_IDS.humidity, 'Humidity per device', 'humidity', 'humidity', [12, 0, 12, 9],
        steps([null, 'orange'], [humidity.min, GREEN], [humidity.max, 'orange']),
        `Mean per interval. Outside ${humidity.min}–${humidity.max} %RH for ${humidity.for.text} raises an alert.`),
      perDevice(PANEL_IDS.battery, 'Battery per device', 'battery', 'percent', [0, 9, 12, 8],
        steps([null, RED], [battery.min, GREEN]),
        `Below ${battery.min} % for ${battery.for.text} raises an alert.`),
      perDevice(4, 'Signal per device', 'rssi', 'dBm', [12, 9, 12, 8], steps([null, RED], [-90, 'orange'], [-75, GREEN]),
        'Received signal strength reported by the device.'),
      timeseries({
        id: 5, title: 'Temperature per location: min / mean / max', grid: [0, 17, 24, 9],
        description: 'Across the devices of each location, per interval, from the ingestor\'s per-minute rollups (closed minutes only: the newest minute appears about 1.5 minutes late). The Device filter does not apply.',
        // From telemetry_location_1m (docs/data-model.md#rollups): 20 series of one point a minute instead of every raw point
        // (35 ms instead of 9.9 s at 10,000 devices over an hour, docs/performance.md). Mean = sum of sums / sum of counts.
        targets: [target('A', `SELECT min("temperature_min") AS "min", sum("temperature_sum") / sum("temperature_count") AS "mean", max("temperature_max") AS "max" FROM "telemetry_location_1m" WHERE $timeFilter AND "location" =~ /^$location$/ AND "group" =~ /^$group$/ GROUP BY time($__interval), "location" fill(none)`, { alias: '$tag_location $col' })],
        defaults: { unit: 'celsius', thresholds: steps([null, 'blue'], [temperature.min, GREEN], [temperature.max, RED]) },
      }, ['min', 'max', 'mean'], 'line'),
      table({
        id: 6, title: 'Min / mean / max per device in range', grid: [0, 26, 24, 9],
        description: 'Summary of the selected time range, one row per device picked, from the ingestor\'s per-minute rollups (telemetry_1m; needs ROLLUPS on): closed minutes only, the newest minute or two are not in it yet.',
        // From telemetry_1m (docs/data-model.md#rollups): min of mins, max of maxes, mean = sum of sums / sum of
        // counts, so several ingestor instances of a shared group merge exactly; a sixth of the raw points, and its
        // cost stays flat as the range grows to days (docs/performance.md).
        targets: [target('A', `SELECT min("temperature_min") AS "temperature min", sum("temperature_sum") / sum("temperature_count") AS "temperature mean", max("temperature_max") AS "temperature max", min("humidity_min") AS "humidity min", max("humidity_max") AS "humidity max", min("battery_min") AS "battery min" FROM "telemetry_1m" WHERE $timeFilter AND ${WHERE_PLACE} GROUP BY "device", "location"`, { format: 'table' })],
        defaults: { decimals: 1 },
        // Tag columns arrive in Go map order (Grafana's InfluxQL table frames):
        // fix the order here.
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, indexByName: Object.fromEntries(SUMMARY_COLUMNS.map((name, index) => [name, index])), renameByName: {} } }],
        overrides: [{ matcher: { id: 'byName', options: 'device' }, properties: [{ id: 'links', value: deviceLinks() }] }],
      }, [{ displayName: 'temperature max', desc: true }]),
    ]);
}

// ----------------------------------------------------------- Device presence

function presence(): Dashboard {
  return dashboard(DASHBOARD_UIDS.presence, 'Device presence',
    'When the devices picked (Device: one or more, the first device by default) were online and why they went away, and which devices of the chosen locations and groups flap. EMQX events and last wills are one state: the newest event wins, whatever its source.',
    pickedPlaceVariables, [
      stateTimeline({
        id: PANEL_IDS.presenceTimeline, title: 'Online / offline per device', grid: [0, 0, 24, 10],
        description: 'For each device picked, the newest presence event per interval, carried forward. A device with no event in the range has no bar: its current state is in the Fleet overview table.',
        targets: [target('A', `SELECT last("online") FROM "device_presence" WHERE $timeFilter AND ${WHERE_PLACE} GROUP BY time($__interval), "device" fill(previous)`, { alias: '$tag_device' })],
        defaults: { mappings: onlineMappings, color: { mode: 'thresholds' }, thresholds: steps([null, RED], [1, GREEN]) },
      }),
      bargauge({
        id: 2, title: 'Flapping devices (most reconnects)', grid: [0, 10, 12, 9],
        description: 'The ten devices of the chosen locations and groups that connected most often in the range: the Device filter does not apply (this is where to find the devices to pick).',
        targets: [target('A', `SELECT top("connects", "device", 10) AS "connects" FROM (SELECT count("online") AS "connects" FROM "device_presence" WHERE $timeFilter AND "online" = 1 AND "location" =~ /^$location$/ AND "group" =~ /^$group$/ GROUP BY "device")`, { format: 'table' })],
        // One bar per row (reduceOptions.values), titled by the row's string
        // column, the device (@grafana/data getFieldDisplayValues; checked in
        // test/unit/grafana-frontend.test.ts).
        defaults: { unit: 'short', decimals: 0, thresholds: steps([null, GREEN], [5, 'orange'], [20, RED]) },
      }),
      timeseries({
        id: 3, title: 'Presence events by source', grid: [12, 10, 12, 9],
        description: 'Events of the devices picked per interval from EMQX (`emqx`), last wills and births (`lwt`) and Sparkplug (`sparkplug`).',
        targets: [target('A', `SELECT count("online") FROM "device_presence" WHERE $timeFilter AND ${WHERE_PLACE} GROUP BY time($__interval), "source" fill(0)`, { alias: '$tag_source' })],
        defaults: { unit: 'short', decimals: 0 },
      }, ['sum']),
      table({
        id: 4, title: 'Disconnects and their reasons', grid: [0, 19, 24, 10],
        description: `Every disconnect of the devices picked in the range, newest first, with the reason (EMQX: normal, tcp_closed, keepalive_timeout, kicked, …; last will: the payload's reason) and its source. The current state of every device is in the Fleet overview table.`,
        targets: [target('A', `SELECT "device", "location", "group", "source", "reason" FROM "device_presence" WHERE $timeFilter AND "online" = 0 AND ${WHERE_PLACE} ORDER BY time DESC LIMIT 500`, { format: 'table' })],
        overrides: [{ matcher: { id: 'byName', options: 'device' }, properties: [{ id: 'links', value: deviceLinks() }] }],
      }),
    ]);
}

// ----------------------------------------------------------- Pipeline health

function pipeline(t: Thresholds): Dashboard {
  const where = `$timeFilter AND "instance" =~ /^$instance$/`;
  const rate = (field: string, per: string) =>
    `SELECT non_negative_derivative(max("${field}"), ${per}) FROM "ingestor_stats" WHERE ${where} GROUP BY time($__interval), "instance" fill(none)`;
  return dashboard(DASHBOARD_UIDS.pipeline, 'Pipeline health',
    'The ingestor itself, per instance (ingestor_stats every STATS_INTERVAL_MS) and what it refused (ingest_rejects).',
    [instanceVariable], [
      timeseries({
        id: PANEL_IDS.pipelineMessages, title: 'Messages in / points written per second', grid: [0, 0, 12, 8],
        description: 'Messages taken from the broker and points InfluxDB confirmed, per second.',
        targets: [
          target('A', rate('messages_in', '1s'), { alias: 'messages in $tag_instance' }),
          target('B', rate('points_written', '1s'), { alias: 'points written $tag_instance' }),
        ],
        defaults: { unit: 'ops' },
      }, ['mean', 'max']),
      timeseries({
        id: 2, title: 'MQTT connected', grid: [12, 0, 12, 8],
        description: '1 while the ingestor is connected to the broker.',
        targets: [target('A', `SELECT last("mqtt_connected") FROM "ingestor_stats" WHERE ${where} GROUP BY time($__interval), "instance" fill(previous)`, { alias: '$tag_instance' })],
        defaults: { unit: 'bool_on_off', min: 0, max: 1, thresholds: steps([null, RED], [1, GREEN]) },
      }, ['min']),
      timeseries({
        id: PANEL_IDS.pipelineRetries, title: 'Write retries per minute', grid: [0, 8, 12, 8],
        description: `Write requests to InfluxDB that will be retried. More than ${t.pipeline.writeRetriesMax} in ${t.pipeline.window.text} raises an alert.`,
        targets: [target('A', rate('write_retries', '1m'), { alias: '$tag_instance' })],
        defaults: { unit: 'short' },
      }, ['sum', 'max']),
      timeseries({
        id: PANEL_IDS.pipelineRejects, title: 'Rejects by reason', grid: [12, 8, 12, 8],
        description: `Messages that yielded no point, by reason (recorded at most 50 a second). More than ${t.pipeline.rejectsMax} in ${t.pipeline.window.text} raises an alert.`,
        targets: [target('A', `SELECT count("error") FROM "ingest_rejects" WHERE $timeFilter GROUP BY time($__interval), "reason" fill(0)`, { alias: '$tag_reason' })],
        defaults: { unit: 'short', decimals: 0 },
      }, ['sum']),
      timeseries({
        id: PANEL_IDS.pipelineBacklog, title: 'Write-ahead log backlog', grid: [0, 16, 12, 8],
        description: `Bytes in the log not yet confirmed by InfluxDB, and the log's size on disk. Above ${t.pipeline.backlogMaxBytes} bytes for ${t.pipeline.backlogFor.text} raises an alert.`,
        targets: [target('A', `SELECT max("backlog_bytes") AS "backlog", max("wal_bytes") AS "log size" FROM "ingestor_stats" WHERE ${where} GROUP BY time($__interval), "instance" fill(none)`, { alias: '$col $tag_instance' })],
        defaults: { unit: 'bytes', thresholds: steps([null, GREEN], [t.pipeline.backlogMaxBytes, RED]) },
      }, ['max', 'lastNotNull'], 'line'),
      stat({
        id: 6, title: 'Points refused by InfluxDB', grid: [12, 16, 12, 8],
        description: 'Points InfluxDB refused for good since each instance started (type conflicts, retention): see the ingestor log for the lines.',
        targets: [target('A', `SELECT last("points_rejected_by_influx") FROM "ingestor_stats" WHERE ${where} GROUP BY "instance"`, { alias: '$tag_instance' })],
        defaults: { unit: 'short', decimals: 0, noValue: '0', thresholds: steps([null, GREEN], [1, 'orange']) },
      }),
      table({
        id: 7, title: 'Recent rejects', grid: [0, 24, 24, 9],
        description: 'The newest rejected messages: topic, reason, error and the first bytes of the payload.',
        targets: [target('A', `SELECT "reason", "route", "topic", "error", "payload" FROM "ingest_rejects" WHERE $timeFilter ORDER BY time DESC LIMIT 100`, { format: 'table' })],
      }),
    ]);
}

export function dashboards(t: Thresholds): Dashboard[] {
  return [fleet(t), telemetry(t), presence(), pipeline(t)];
}
