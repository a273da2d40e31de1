/**
 * What a person needs to read from one alert, in their language: a pure
 * function of the alert, the language, the time zone and the clock-free
 * timestamps Grafana sent. Platform renderers (dingtalk.ts, feishu.ts) only
 * lay these fields out.
 */
import type { Language } from '../config.ts';
import type { AlertStatus, GrafanaAlert } from '../grafana/payload.ts';

export interface AlertView {
  readonly status: AlertStatus;
  readonly critical: boolean;
  readonly severity: string | undefined;
  readonly name: string;
  readonly summary: string;
  readonly description: string | undefined;
  /** device, or instance for pipeline rules. */
  readonly device: string | undefined;
  readonly location: string | undefined;
  readonly group: string | undefined;
  readonly value: string | undefined;
  readonly since: string;
  readonly until: string | undefined;
  /** For a resolved alert: how long it lasted (startsAt..endsAt). */
  readonly duration: string | undefined;
  readonly links: readonly { readonly label: string; readonly url: string }[];
}

export interface Strings {
  readonly firing: string;
  readonly resolved: string;
  readonly alertWord: string;
  readonly device: string;
  readonly location: string;
  readonly group: string;
  readonly value: string;
  readonly since: string;
  readonly until: string;
  readonly lasted: string;
  readonly dashboard: string;
  readonly panel: string;
  readonly silence: string;
  readonly rule: string;
  readonly digest: (notifications: number, firing: number, resolved: number) => string;
  readonly more: (count: number) => string;
  readonly test: string;
  readonly testBody: (bot: string) => string;
  readonly title: (firing: number, resolved: number, name: string) => string;
}

const ZH: Strings = {
  firing: '告警',
  resolved: '已恢复',
  alertWord: '告警',
  device: '设备',
  location: '位置',
  group: '分组',
  value: '数值',
  since: '开始于',
  until: '恢复于',
  lasted: '持续',
  dashboard: '看板',
  panel: '面板',
  silence: '静默',
  rule: '规则',
  digest: (n, f, r) => `告警汇总：${n} 条通知（${f} 条告警，${r} 条恢复）`,
  more: (count) => `…另有 ${count} 条未列出，详见 Grafana`,
  test: 'sensorflow 告警测试',
  testBody: (bot) => `这是一条来自 sensorflow 告警通知服务的测试消息（机器人 ${bot}）。收到即说明地址、签名和关键词配置正确。`,
  title: (f, r, name) => (f > 0 ? `【告警】${name}${f + r > 1 ? ` 等 ${f + r} 条` : ''}` : `【已恢复】${name}${r > 1 ? ` 等 ${r} 条` : ''}`),
};

const EN: Strings = {
  firing: 'FIRING',
  resolved: 'RESOLVED',
  alertWord: 'Alert',
  device: 'Device',
  location: 'Location',
  group: 'Group',
  value: 'Value',
  since: 'Since',
  until: 'Resolved at',
  lasted: 'Lasted',
  dashboard: 'Dashboard',
  panel: 'Panel',
  silence: 'Silence',
  rule: 'Rule',
  digest: (n, f, r) => `Alert digest: ${n} notifications (${f} firing, ${r} resolved)`,
  more: (count) => `…and ${count} more not listed, see Grafana`,
  test: 'sensorflow alert test',
  testBody: (bot) => `A test message from the sensorflow alert notifier (bot ${bot}). If you read this, the URL, signature and keyword are right.`,
  title: (f, r, name) => (f > 0 ? `[Alert FIRING] ${name}${f + r > 1 ? ` and ${f + r - 1} more` : ''}` : `[Alert RESOLVED] ${name}${r > 1 ? ` and ${r - 1} more` : ''}`),
};

export const strings = (language: Language): Strings => (language === 'en' ? EN : ZH);

export interface ViewOptions {
  readonly language: Language;
  readonly timeZone: string;
}

/** Grafana's "zero" time for an alert that has not ended. */
const isZeroTime = (value: string): boolean => value.startsWith('0001-01-01');

export function formatTime(iso: string, timeZone: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime()) || isZeroTime(iso)) return iso;
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(date);
  const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}:${part('second')}`;
}

/** 3725 s → "1小时2分5秒" / "1h 2m 5s"; seconds are dropped from an hour on. */
export function formatDuration(ms: number, language: Language): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const units = language === 'en' ? ['d ', 'h ', 'm ', 's'] : ['天', '小时', '分', '秒'];
  const parts: string[] = [];
  if (days > 0) parts.push(`${days}${units[0]}`);
  if (hours > 0) parts.push(`${hours}${units[1]}`);
  if (minutes > 0) parts.push(`${minutes}${units[2]}`);
  if ((seconds > 0 && days === 0 && hours === 0) || parts.length === 0) parts.push(`${seconds}${units[3]}`);
  return parts.join('').trim();
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(6)));
}

/** Grafana's `values` (one per expression refId), e.g. "B=44.24, C=1"; or the older valueString. */
export function formatValues(alert: GrafanaAlert): string | undefined {
  const entries = Object.entries(alert.values ?? {}).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
  if (entries.length === 1) return formatNumber(entries[0]?.[1] ?? 0);
  if (entries.length > 0) return entries.map(([key, value]) => `${key}=${formatNumber(value)}`).join(', ');
  return alert.valueString !== undefined && alert.valueString !== '' ? alert.valueString : undefined;
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value.trim());

/** Annotations are free text: one runaway annotation must not crowd out every other alert. */
const clip = (value: string | undefined, max: number): string | undefined => (value === undefined || [...value].length <= max ? value : `${[...value].slice(0, max - 1).join('')}…`);

export function alertView(alert: GrafanaAlert, options: ViewOptions): AlertView {
  const t = strings(options.language);
  const lang = options.language;
  const name = nonEmpty(alert.labels.alertname) ?? t.alertWord;
  const summary = clip(nonEmpty(alert.annotations[`summary_${lang}`]) ?? nonEmpty(alert.annotations.summary) ?? name, 200) ?? name;
  const description = clip(nonEmpty(alert.annotations[`description_${lang}`]) ?? nonEmpty(alert.annotations.description), 1000);
  const resolved = alert.status === 'resolved' && !isZeroTime(alert.endsAt);
  const lastedMs = Date.parse(alert.endsAt) - Date.parse(alert.startsAt);
  const links: { label: string; url: string }[] = [];
  const link = (label: string, url: string | undefined): void => {
    const value = nonEmpty(url);
    if (value !== undefined) links.push({ label, url: value });
  };
  link(t.dashboard, alert.dashboardURL);
  link(t.panel, alert.panelURL);
  link(t.silence, alert.silenceURL);
  link(t.rule, alert.generatorURL);
  const severity = nonEmpty(alert.labels.severity);
  return {
    status: alert.status,
    critical: severity === 'critical',
    severity,
    name,
    summary,
    description,
    device: nonEmpty(alert.labels.device) ?? nonEmpty(alert.labels.instance),
    location: nonEmpty(alert.labels.location),
    group: nonEmpty(alert.labels.group),
    value: formatValues(alert),
    since: formatTime(alert.startsAt, options.timeZone),
    until: resolved ? formatTime(alert.endsAt, options.timeZone) : undefined,
    duration: resolved && Number.isFinite(lastedMs) ? formatDuration(lastedMs, lang) : undefined,
    links,
  };
}

/** One line per alert, for digests and for the tail of a long group. */
export function compactLine(view: AlertView, language: Language): string {
  const t = strings(language);
  const icon = view.status === 'firing' ? '🔴' : '🟢';
  const where = [view.device, view.location, view.group].filter((part) => part !== undefined).join(' · ');
  const when = view.status === 'firing' ? `${t.since} ${view.since}` : `${t.lasted} ${view.duration ?? '?'}`;
  const severity = view.severity === undefined ? '' : `[${view.severity}] `;
  return `${icon} ${severity}${view.summary}${where === '' ? '' : ` (${where})`}${view.value === undefined ? '' : ` = ${view.value}`} · ${when}`;
}
