/**
 * The alert rules, as code: InfluxQL query → reduce → threshold or math.
 * `npm run grafana` writes them to grafana/provisioning/alerting/rules.yaml.
 * Every threshold comes from grafana/thresholds.yaml.
 *
 * Why each rule is shaped as it is (see README "Grafana: dashboards and alerts"):
 * - Device liveness (offline, silent): the ingestor's `device_state`
 *   measurement over a short window, durations from the data (see below).
 * - Pipeline counters (retries, rejects) are summed as differences, so an
 *   ingestor restart (counters back to 0) is not a surge.
 */
import type { Thresholds } from './thresholds.ts';
import { DASHBOARD_UIDS, PANEL_IDS } from './dashboards.ts';
import { DEVICE_TROUBLE, offlineSecondsQuery, silenceOverLimitQuery } from './device-state.ts';
import { DATASOURCE } from './model.ts';
import { lastBelowQuery, meanOutOfRangeQuery } from './readings.ts';

export const FOLDER = 'sensorflow';
const EXPR = '__expr__';

export interface RuleQuery {
  readonly refId: string;
  readonly relativeTimeRange: { readonly from: number; readonly to: number };
  readonly datasourceUid: string;
  readonly model: Record<string, unknown>;
}

export type NoDataState = 'OK' | 'NoData' | 'Alerting' | 'KeepLast';
export type ErrState = 'OK' | 'Error' | 'Alerting' | 'KeepLast';

export interface AlertRule {
  readonly uid: string;
  readonly title: string;
  readonly condition: string;
  readonly data: readonly RuleQuery[];
  readonly noDataState: NoDataState;
  readonly execErrState: ErrState;
  readonly for: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly dashboardUid?: string;
  readonly panelId?: number;
  readonly isPaused: false;
}

export interface RuleGroup {
  readonly orgId: 1;
  readonly name: string;
  readonly folder: string;
  readonly interval: string;
  readonly rules: readonly AlertRule[];
}

function influx(refId: string, fromSeconds: number, query: string): RuleQuery {
  return {
    refId,
    relativeTimeRange: { from: fromSeconds, to: 0 },
    datasourceUid: DATASOURCE.uid,
    model: { refId, datasource: DATASOURCE, rawQuery: true, query, resultFormat: 'time_series', intervalMs: 60_000, maxDataPoints: 43_200 },
  };
}

function expression(refId: string, model: Record<string, unknown>): RuleQuery {
  return { refId, relativeTimeRange: { from: 0, to: 0 }, datasourceUid: EXPR, model: { refId, datasource: { type: EXPR, uid: EXPR }, ...model } };
}

type Reducer = 'last' | 'mean' | 'min' | 'max' | 'sum' | 'count';
const reduce = (refId: string, input: string, reducer: Reducer) => expression(refId, { type: 'reduce', expression: input, reducer, settings: { mode: 'dropNN' } });
const math = (refId: string, formula: string) => expression(refId, { type: 'math', expression: formula });
type Evaluator = { type: 'gt' | 'lt'; params: [number] } | { type: 'within_range' | 'outside_range'; params: [number, number] };
const threshold = (refId: string, input: string, evaluator: Evaluator) => expression(refId, { type: 'threshold', expression: input, conditions: [{ evaluator }] });

interface Text {
  summaryEn: string;
  summaryZh: string;
  descriptionEn: string;
  descriptionZh: string;
}

// Annotations go through Grafana's ${VAR} expansion only, so {{ $labels.x }}
// and {{ $values.X }} reach the template engine untouched.
const annotations = (text: Text) => ({
  summary_en: text.summaryEn,
  summary_zh: text.summaryZh,
  description_en: text.descriptionEn,
  description_zh: text.descriptionZh,
  summary: text.summaryEn,
  description: text.descriptionEn,
});

// Device liveness rules: from `device_trouble` (grafana/src/device-state.ts,
// docs/liveness.md): the ingestor writes, at each tick, one point per device
// in trouble in its view (offline, or silent for DEVICE_TROUBLE_SILENT_AFTER,
// at most the smallest silence limit here), one last point with offline_s =
// silent_s = 0 for a device that left trouble, and one heartbeat per
// instance (no device tag, never in trouble). So each rule reads and returns
// one series per device in trouble plus one for the heartbeats (labels
// device = location = group = "", value 0: never fires), whatever the size
// of the fleet. Merging the instances: the smallest offline_s / silent_s
// over the instances' trouble points and the ticks in the window; an
// instance that sees the device fine writes no point (docs/liveness.md,
// "several ingestors", says when that matters).
//
// State handling, read in Grafana's source (pkg/services/ngalert/state/
// manager.go `setNextStateForRule` / `setNextStateForAll`, state.go
// `resultNoData` / `resultKeepLast`; the NoData/Error-to-all-instances path
// is behind the `alertingNoDataErrorExecution` toggle, on by default since
// grafana/grafana#77242 (10.4), and unconditional in later code):
// - nobody in trouble: the heartbeats alone, value 0: every device instance
//   that was firing is a missing series, already resolved by its "left
//   trouble" point (value 0) at the evaluation before.
// - no ingestor reports (every one down or catching up, so no point at all
//   in the window): the query returns no series, every result is NoData
//   (eval.go `evaluateExecutionResult`), and with noDataState KeepLast the
//   NoData result is applied to EVERY existing instance of the rule, which
//   keeps each one as it was (Alerting stays Alerting, Normal stays Normal)
//   and refreshes its last evaluation time, so none goes stale. OK would
//   resolve every dead device (the bots post "resolved"), Alerting would
//   fire, and NoData would add a DatasourceNoData-style state: all three
//   wrong for an ingestor outage, which the pipeline rules ("Ingestor not
//   reporting", "No telemetry at all") report. With no existing instance,
//   KeepLast falls back to Normal.
// - a nil value for one device would be NoData for that instance alone and
//   KeepLast would keep a firing alert firing (issue 23, finding 10): every
//   device_trouble point carries offline_s, silent_s and online, so no
//   expression here is ever nil.
// - the query fails (InfluxDB unreachable): execErrState KeepLast, the same
//   path through `resultKeepLast`.
// - one series disappears while others remain (its device left trouble two
//   ticks ago, or the ingestor restarted meanwhile and wrote no "left
//   trouble" point): its instance is "missing series" and is resolved once
//   it has been absent for two evaluation intervals (12.0.2 manager.go
//   `deleteStaleStatesFromCache`, `stateIsStale`; its successor
//   `processMissingSeriesStates` reached 12.0.x only in 12.0.3).
// `for` is 0s: offline_s and silent_s already measure the duration from the
// data, so a device offline for 90 minutes before the first evaluation fires
// critical at that evaluation, and one that comes back resolves at the next.

const LIVENESS_STATE_HANDLING = { noDataState: 'KeepLast', execErrState: 'KeepLast' } as const;

function offline(t: Thresholds, severity: 'warning' | 'critical'): AlertRule {
  const after = severity === 'warning' ? t.presence.offlineWarningAfter : t.presence.offlineCriticalAfter;
  return {
    // uids kept from the presence-based rules: file provisioning upserts by
    // uid and never deletes a rule missing from the file (only `deleteRules`
    // does, pkg/services/provisioning/alerting/rules_provisioner.go), so a
    // stack upgraded in place gets these rules replaced, with no leftover.
    uid: severity === 'warning' ? 'sensorflow-device-offline' : 'sensorflow-device-offline-critical',
    title: severity === 'warning' ? 'Device offline' : 'Device offline for long',
    condition: 'C',
    data: [
      influx('A', t.deviceState.window.seconds, offlineSecondsQuery('$timeFilter', DEVICE_TROUBLE)),
      reduce('B', 'A', 'last'),
      math('C', `$B >= ${after.seconds}`),
    ],
    ...LIVENESS_STATE_HANDLING,
    for: '0s',
    labels: { severity },
    annotations: annotations({
      summaryEn: `{{ $labels.device }} at {{ $labels.location }} offline for {{ humanizeDuration $values.B.Value }}`,
      summaryZh: `设备 {{ $labels.device }}（{{ $labels.location }}）已离线 {{ humanizeDuration $values.B.Value }}`,
      descriptionEn: `Its newest presence event (EMQX disconnect, last will or Sparkplug death) says offline, for more than ${after.text}. Check its power and network, then the Device presence dashboard for the disconnect reason.${severity === 'critical' ? ' Escalated: offline longer than ' + after.text + '.' : ''}`,
      descriptionZh: `最新的在线状态事件（EMQX 断开、遗嘱消息或 Sparkplug 下线）显示离线超过 ${after.text}。请检查设备电源和网络，并在“Device presence”看板查看断开原因。${severity === 'critical' ? '已升级：离线超过 ' + after.text + '。' : ''}`,
    }),
    dashboardUid: DASHBOARD_UIDS.fleet,
    panelId: PANEL_IDS.fleetDevices,
    isPaused: false,
  };
}

function silent(t: Thresholds): AlertRule {
  const byGroup = new Map([...t.silence.afterByGroup].map(([group, d]) => [group, d.seconds] as const));
  const limits = [`${t.silence.after.text}`, ...[...t.silence.afterByGroup].map(([group, d]) => `group ${group}: ${d.text}`)].join('; ');
  return {
    uid: 'sensorflow-device-silent',
    title: 'Device silent',
    condition: 'C',
    data: [
      // One number per device: seconds silent beyond its limit (> 0 fires).
      influx('A', t.deviceState.window.seconds, silenceOverLimitQuery(t.silence.after.seconds, byGroup, '$timeFilter', DEVICE_TROUBLE)),
      reduce('B', 'A', 'last'),
      math('C', '$B > 0'),
    ],
    ...LIVENESS_STATE_HANDLING,
    for: '0s',
    labels: { severity: 'warning' },
    annotations: annotations({
      summaryEn: `{{ $labels.device }} at {{ $labels.location }} has sent nothing for longer than its limit (${limits}), by {{ humanizeDuration $values.B.Value }}`,
      summaryZh: `设备 {{ $labels.device }}（{{ $labels.location }}）没有上报任何消息的时间超过上限（${limits}）{{ humanizeDuration $values.B.Value }}`,
      descriptionEn: 'No message from it (telemetry, status or presence), while presence says online or the device has no presence source. Check the device, its gateway and firmware, and the ingestor\'s rejects (Pipeline health) for its topic.',
      descriptionZh: '没有收到它的任何消息（数据、状态或在线事件），而在线状态为在线或设备没有在线状态来源。请检查设备、网关和固件，并在“Pipeline health”看板查看该主题是否被拒收。',
    }),
    dashboardUid: DASHBOARD_UIDS.fleet,
    panelId: PANEL_IDS.fleetDevices,
    isPaused: false,
  };
}

function reading(uid: string, title: string, query: string, rangeSeconds: number, evaluator: Evaluator, forText: string, text: Text, panelId: number): AlertRule {
  return {
    uid, title, condition: 'C',
    data: [influx('A', rangeSeconds, query), reduce('B', 'A', 'last'), threshold('C', 'B', evaluator)],
    // A device that stops reporting is the silence rule's business.
    noDataState: 'OK',
    execErrState: 'KeepLast',
    for: forText,
    labels: { severity: 'warning' },
    annotations: annotations(text),
    dashboardUid: DASHBOARD_UIDS.telemetry,
    panelId,
    isPaused: false,
  };
}

function readings(t: Thresholds): AlertRule[] {
  const { temperature, humidity, battery } = t.readings;
  // Over the per-minute rollups, out-of-range rows only, plus a heartbeat row (grafana/src/readings.ts).
  return [
    reading('sensorflow-temperature-out-of-range', 'Temperature out of range', meanOutOfRangeQuery('temperature', temperature.min, temperature.max), 300,
      { type: 'outside_range', params: [temperature.min, temperature.max] }, temperature.for.text, {
        summaryEn: `{{ $labels.device }} at {{ $labels.location }} reads {{ humanize $values.B.Value }} °C (allowed ${temperature.min}–${temperature.max} °C)`,
        summaryZh: `设备 {{ $labels.device }}（{{ $labels.location }}）温度 {{ humanize $values.B.Value }} °C，超出允许范围 ${temperature.min}–${temperature.max} °C`,
        descriptionEn: 'Mean of the last 5 minutes. Check the site (cooling, heating, a door left open) and whether other devices at the same location read the same.',
        descriptionZh: '最近 5 分钟平均值。请检查现场（制冷、供暖、门窗），并对比同一位置其他设备的读数。',
      }, PANEL_IDS.temperature),
    reading('sensorflow-humidity-out-of-range', 'Humidity out of range', meanOutOfRangeQuery('humidity', humidity.min, humidity.max), 300,
      { type: 'outside_range', params: [humidity.min, humidity.max] }, humidity.for.text, {
        summaryEn: `{{ $labels.device }} at {{ $labels.location }} reads {{ humanize $values.B.Value }} %RH (allowed ${humidity.min}–${humidity.max} %RH)`,
        summaryZh: `设备 {{ $labels.device }}（{{ $labels.location }}）湿度 {{ humanize $values.B.Value }} %RH，超出允许范围 ${humidity.min}–${humidity.max} %RH`,
        descriptionEn: 'Mean of the last 5 minutes. Check ventilation and leaks at the site, and the sensor itself if only this device is affected.',
        descriptionZh: '最近 5 分钟平均值。请检查现场通风和渗漏；如只有该设备异常，请检查传感器。',
      }, PANEL_IDS.humidity),
    reading('sensorflow-battery-low', 'Battery low', lastBelowQuery('battery', battery.min), 3600,
      { type: 'lt', params: [battery.min] }, battery.for.text, {
        summaryEn: `{{ $labels.device }} at {{ $labels.location }} battery at {{ humanize $values.B.Value }} % (below ${battery.min} %)`,
        summaryZh: `设备 {{ $labels.device }}（{{ $labels.location }}）电量 {{ humanize $values.B.Value }}%，低于 ${battery.min}%`,
        descriptionEn: 'The lowest reading of its newest minute. Replace or charge the battery before the device goes offline.',
        descriptionZh: '最近一分钟内的最低读数。请在设备离线前更换电池或充电。',
      }, PANEL_IDS.battery),
  ];
}

function pipeline(t: Thresholds): AlertRule[] {
  const p = t.pipeline;
  const statsMinutes = Math.max(1, Math.round(p.statsSilentAfter.seconds / 60));
  const pipelineText = (what: string, zh: string, checkEn: string, checkZh: string): Text => ({
    summaryEn: `Ingestor {{ $labels.instance }}: ${what}`,
    summaryZh: `采集服务 {{ $labels.instance }}：${zh}`,
    descriptionEn: checkEn,
    descriptionZh: checkZh,
  });
  const counterSurge = (uid: string, title: string, field: string, max: number, panelId: number, text: Text): AlertRule => ({
    uid, title, condition: 'C',
    data: [
      influx('A', p.window.seconds, `SELECT non_negative_difference("${field}") FROM "ingestor_stats" WHERE $timeFilter GROUP BY "instance"`),
      reduce('B', 'A', 'sum'),
      threshold('C', 'B', { type: 'gt', params: [max] }),
    ],
    // No stats: the "not reporting" rule says so.
    noDataState: 'OK', execErrState: 'KeepLast', for: '0s',
    labels: { severity: 'warning' }, annotations: annotations(text),
    dashboardUid: DASHBOARD_UIDS.pipeline, panelId, isPaused: false,
  });
  return [
    counterSurge('sensorflow-write-retries', 'Write retries surging', 'write_retries', p.writeRetriesMax, PANEL_IDS.pipelineRetries,
      pipelineText(`{{ humanize $values.B.Value }} write retries in ${p.window.text}`, `${p.window.text} 内写入重试 {{ humanize $values.B.Value }} 次`,
        'InfluxDB is refusing or timing out writes. Check that InfluxDB is up, its disk, and the ingestor log for the HTTP status.',
        'InfluxDB 拒绝写入或超时。请检查 InfluxDB 是否运行、磁盘空间，以及采集服务日志中的 HTTP 状态。')),
    counterSurge('sensorflow-rejects', 'Rejected messages surging', 'rejects', p.rejectsMax, PANEL_IDS.pipelineRejects,
      pipelineText(`{{ humanize $values.B.Value }} messages rejected in ${p.window.text}`, `${p.window.text} 内拒收消息 {{ humanize $values.B.Value }} 条`,
        'Devices send payloads the ingestor cannot read. The Pipeline health dashboard lists the reasons, topics and payloads.',
        '设备发送了无法解析的数据。请在“Pipeline health”看板查看拒收原因、主题和内容。')),
    {
      uid: 'sensorflow-backlog', title: 'Write backlog growing', condition: 'C',
      data: [
        influx('A', 300, 'SELECT max("backlog_bytes") FROM "ingestor_stats" WHERE $timeFilter GROUP BY time(1m), "instance" fill(none)'),
        reduce('B', 'A', 'last'),
        threshold('C', 'B', { type: 'gt', params: [p.backlogMaxBytes] }),
      ],
      noDataState: 'OK', execErrState: 'KeepLast', for: p.backlogFor.text,
      labels: { severity: 'warning' },
      annotations: annotations(pipelineText(`{{ humanize1024 $values.B.Value }} waiting in the write-ahead log`, `预写日志积压 {{ humanize1024 $values.B.Value }}`,
        `More than ${p.backlogMaxBytes} bytes have waited for InfluxDB for ${p.backlogFor.text}. Nothing is lost yet; at WAL_MAX_BYTES the ingestor stops taking messages. Check InfluxDB.`,
        `超过 ${p.backlogMaxBytes} 字节的数据已等待写入 InfluxDB ${p.backlogFor.text}。目前没有数据丢失；达到 WAL_MAX_BYTES 后采集服务将停止接收消息。请检查 InfluxDB。`)),
      dashboardUid: DASHBOARD_UIDS.pipeline, panelId: PANEL_IDS.pipelineBacklog, isPaused: false,
    },
    {
      uid: 'sensorflow-ingestor-silent', title: 'Ingestor not reporting', condition: 'C',
      data: [
        influx('A', p.instanceRememberedFor.seconds, ingestorReportingQuery(statsMinutes)),
        reduce('B', 'A', 'last'),
        // Below half a stats point per window: exactly none.
        threshold('C', 'B', { type: 'lt', params: [0.5 / statsMinutes] }),
      ],
      // No stats from any instance within instance_remembered_for, or
      // InfluxDB unreachable: nobody can see the fleet, which is worth waking
      // someone for.
      noDataState: 'Alerting', execErrState: 'Alerting', for: '0s',
      labels: { severity: 'critical' },
      annotations: annotations(pipelineText(`no stats for ${p.statsSilentAfter.text}`, `${p.statsSilentAfter.text} 内没有上报运行状态`,
        'The ingestor is down, cannot write to InfluxDB, or InfluxDB cannot be queried. Check `docker compose ps`, the ingestor log and /readyz.',
        '采集服务已停止、无法写入 InfluxDB，或无法查询 InfluxDB。请检查 `docker compose ps`、采集服务日志和 /readyz。')),
      dashboardUid: DASHBOARD_UIDS.pipeline, panelId: PANEL_IDS.pipelineMessages, isPaused: false,
    },
    livenessStalled(t),
    {
      uid: 'sensorflow-no-telemetry', title: 'No telemetry at all', condition: 'C',
      data: [
        influx('A', p.telemetrySilentAfter.seconds, `SELECT count("${t.silence.field}") FROM "telemetry" WHERE $timeFilter`),
        reduce('B', 'A', 'last'),
        threshold('C', 'B', { type: 'lt', params: [1] }),
      ],
      // No point at all is exactly what this rule is about.
      noDataState: 'Alerting', execErrState: 'Alerting', for: '0s',
      labels: { severity: 'critical' },
      annotations: annotations({
        summaryEn: `No telemetry from any device for ${p.telemetrySilentAfter.text}`,
        summaryZh: `${p.telemetrySilentAfter.text} 内没有任何设备上报数据`,
        descriptionEn: 'The broker, the ingestor or InfluxDB is down, or the ingestor subscribes to the wrong topics (MQTT_TOPICS). Check the Pipeline health dashboard first.',
        descriptionZh: 'MQTT 服务器、采集服务或 InfluxDB 已停止，或采集服务订阅了错误的主题（MQTT_TOPICS）。请先查看“Pipeline health”看板。',
      }),
      dashboardUid: DASHBOARD_UIDS.pipeline, panelId: PANEL_IDS.pipelineMessages, isPaused: false,
    },
  ];
}

/**
 * "Ingestor not reporting", per instance: stats points per minute over
 * `instance_remembered_for` (30 days by default), fill(0), averaged over the
 * last `stats_silent_after` minutes; the outer query keeps only the newest
 * value of each instance, so Grafana gets one point per instance, not a month
 * of minutes.
 *
 * Why the long look-back: a series exists only while it has a point in the
 * query's range. With the old one-hour range, an instance that died left the
 * result an hour later, and Grafana resolved it as a missing series two
 * evaluations after that (12.0.2 manager.go `deleteStaleStatesFromCache`,
 * `stateIsStale`), telling the bots "resolved" while it was still down. Now a
 * dead instance keeps its series, at 0, and keeps firing, until its last stats
 * leave the look-back or an operator forgets it by deleting its stats
 * (docs/grafana.md "Ingestor not reporting").
 *
 * Cost: InfluxDB counts the window's stats points (one every STATS_INTERVAL_MS
 * per instance) once a minute; the answer is one row per instance.
 * Multiple-level subqueries are InfluxQL on 1.x and on 3.x
 * (iox_query_influxql planner, `subquery_to_plan`).
 */
export function ingestorReportingQuery(statsMinutes: number): string {
  return `SELECT last("reported") FROM (SELECT moving_average(count("messages_in"), ${statsMinutes}) AS "reported" FROM "ingestor_stats" WHERE $timeFilter GROUP BY time(1m), "instance" fill(0)) WHERE $timeFilter GROUP BY "instance"`;
}

/**
 * "Device liveness stalled": an instance that keeps reporting stats but has
 * been catching up (liveness/catch-up.ts) for `liveness_stalled_after`
 * writes no `device_state`, so every device rule sees no data and keeps its
 * last state: liveness alerting is frozen, silently. One store-and-forward
 * gateway or one device with a lagging clock, in a fleet where few devices
 * send a payload time, keeps an instance catching up for ever.
 *
 * Query: `ingestor_stats` per instance and minute (one series per instance,
 * about `liveness_stalled_after` / 1 min points: the cheapest possible),
 * `min("catching_up")`: 1 only when every stats point in that minute said
 * catching up, i.e. no tick was written since the one before. It fires when
 * - B, the smallest over the window, is 1: not one stats point in the
 *   window saw a tick written (`catching_up` is 0 from a written tick to the
 *   next one), and
 * - D, the minutes with stats (fill(none): empty minutes are not rows), is
 *   at least the window's minutes: the instance reported all along. So an
 *   instance that started (or began catching up) less than the window ago
 *   does not fire, and one that stops reporting resolves within two
 *   minutes, before "Ingestor not reporting" fires for it: one alert per
 *   cause. The window has one more (partial) minute than it is long, so one
 *   empty edge minute is allowed for. Needs STATS_INTERVAL_MS <= 60 s (10 s
 *   by default); data from an ingestor without the `catching_up` field
 *   never fires.
 * C joins B and D by their equal label set {instance}; `&&` and letter-only
 * refIds are what Grafana's math lexer takes (pkg/expr/mathexp/parse/lex.go).
 * A tick skipped because the write-ahead log takes nothing is not counted:
 * then the stats points are not stored either, and "Ingestor not
 * reporting" (with "Write backlog growing") pages.
 *
 * noDataState OK: no stats from any instance in the window is "Ingestor not
 * reporting"'s alert; this rule has nothing to say then, and keeping a
 * stalled instance firing would page twice for one outage. execErrState
 * KeepLast: an InfluxDB query error says nothing about the ingestor, so a
 * stall neither resolves ("resolved" posted for a live problem) nor fires
 * anew; "Ingestor not reporting" pages for the unreachable InfluxDB.
 */
function livenessStalled(t: Thresholds): AlertRule {
  const after = t.pipeline.livenessStalledAfter;
  const minutes = after.seconds / 60;
  return {
    uid: 'sensorflow-liveness-stalled', title: 'Device liveness stalled', condition: 'C',
    data: [
      influx('A', after.seconds, 'SELECT min("catching_up") FROM "ingestor_stats" WHERE $timeFilter GROUP BY time(1m), "instance" fill(none)'),
      reduce('B', 'A', 'min'),
      reduce('D', 'A', 'count'),
      math('C', `$B >= 1 && $D >= ${minutes}`),
    ],
    noDataState: 'OK', execErrState: 'KeepLast', for: '0s',
    labels: { severity: 'critical' },
    annotations: annotations({
      summaryEn: `Ingestor {{ $labels.instance }} has written no device_state for ${after.text} (catching up): device offline/silent alerts are frozen. Look for a device with a lagging clock or a gateway replaying a backlog (ingestor log "catching up (backlog)"), or raise DEVICE_STATE_MAX_LAG_S`,
      summaryZh: `采集服务 {{ $labels.instance }} 已 ${after.text} 未写入 device_state（追赶积压中）：设备离线/静默告警已冻结。请查找时钟滞后的设备或正在回放积压数据的网关（采集服务日志 "catching up (backlog)"），或调大 DEVICE_STATE_MAX_LAG_S`,
      descriptionEn: `catching_up stayed 1 in ingestor_stats for ${after.text}: every device_state tick was skipped, so no device alert fires or resolves. The ingestor log says why: "catching up (backlog)" / "still catching up a backlog": more than half of the messages with a payload time arrive older than DEVICE_STATE_MAX_LAG_S (default 120 s): fix the device or gateway clock, or, if gateways forward late by design, raise DEVICE_STATE_MAX_LAG_S. "catching up (disconnected)": the ingestor is not connected to the broker; check the broker and MQTT_URL. "catching up (reconnected)": no message with a payload time since the reconnection. See docs/liveness.md "Catching up".`,
      descriptionZh: `ingestor_stats 中 catching_up 已持续 ${after.text} 为 1：所有 device_state 写入都被跳过，设备告警既不会触发也不会恢复。采集服务日志说明原因："catching up (backlog)" / "still catching up a backlog"：一半以上带时间戳的消息到达时已超过 DEVICE_STATE_MAX_LAG_S（默认 120 秒），请修正设备或网关的时钟；如网关按设计延迟转发，请调大 DEVICE_STATE_MAX_LAG_S。"catching up (disconnected)"：采集服务未连接 MQTT 服务器，请检查服务器和 MQTT_URL。"catching up (reconnected)"：重连后还没有收到带时间戳的消息。见 docs/liveness.md “Catching up”。`,
    }),
    dashboardUid: DASHBOARD_UIDS.pipeline, panelId: PANEL_IDS.pipelineMessages, isPaused: false,
  };
}

export function ruleGroups(t: Thresholds): RuleGroup[] {
  return [
    { orgId: 1, name: 'devices', folder: FOLDER, interval: '1m', rules: [offline(t, 'warning'), offline(t, 'critical'), silent(t), ...readings(t)] },
    { orgId: 1, name: 'pipeline', folder: FOLDER, interval: '1m', rules: pipeline(t) },
  ];
}
