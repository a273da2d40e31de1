/**
 * Platform-neutral layout: which alerts a message lists in full, which as one
 * line, and how many it only counts, so that the platform body stays under its
 * size limit. Pure functions; dingtalk.ts and feishu.ts supply the markup.
 */
import type { BotConfig, Language } from '../config.ts';
import type { GrafanaNotification } from '../grafana/payload.ts';
import { alertView, compactLine, strings, type AlertView, type ViewOptions } from './view.ts';

export interface RenderOptions extends ViewOptions {
  readonly bot: BotConfig;
}

/** Bytes a string takes inside a JSON body (escapes included, quotes not). */
export const jsonBytes = (text: string): number => Buffer.byteLength(JSON.stringify(text)) - 2;

export interface Batch {
  readonly notifications: readonly GrafanaNotification[];
}

export interface Summary {
  readonly views: readonly AlertView[];
  readonly firing: number;
  readonly resolved: number;
  /** Some alert is firing with severity=critical: the bot's people are mentioned. */
  readonly mention: boolean;
  readonly title: string;
  readonly digest: boolean;
}

export function summarize(batch: Batch, options: RenderOptions): Summary {
  const t = strings(options.language);
  const views = batch.notifications.flatMap((notification) => notification.alerts.map((alert) => alertView(alert, options)));
  const firing = views.filter((view) => view.status === 'firing').length;
  const resolved = views.length - firing;
  const digest = batch.notifications.length > 1;
  const first = views.find((view) => view.status === 'firing') ?? views[0];
  let title = digest ? t.digest(batch.notifications.length, firing, resolved) : t.title(firing, resolved, first?.summary ?? t.alertWord);
  const keyword = options.bot.keyword;
  if (keyword !== undefined && !title.includes(keyword)) title = `${keyword} ${title}`;
  return { views, firing, resolved, mention: views.some((view) => view.status === 'firing' && view.critical), title, digest };
}

export interface Fitted {
  /** Alerts shown in full, in order. */
  readonly detailed: readonly string[];
  /** Alerts shown as one line each, after the detailed ones. */
  readonly compact: readonly string[];
  /** Alerts neither detailed nor listed: only counted in `moreLine`. */
  readonly omitted: number;
  readonly moreLine: string | undefined;
}

/**
 * Fills `budget` bytes: full blocks while they fit (digests skip this step:
 * a storm reads better as one line per alert), then one line per alert, then
 * a count of the rest. `overhead` is what each full block costs beyond its
 * text, `lineOverhead` what each line costs beyond its text (bullet, newline).
 */
export function fit(
  views: readonly AlertView[],
  detailedBlock: (view: AlertView) => string,
  options: { readonly budget: number; readonly overhead: number; readonly lineOverhead: number; readonly language: Language; readonly detailed: boolean },
): Fitted {
  const t = strings(options.language);
  const reserve = jsonBytes(t.more(views.length)) + options.overhead;
  let left = options.budget - reserve;
  const detailed: string[] = [];
  let index = 0;
  if (options.detailed) {
    for (; index < views.length; index += 1) {
      const block = detailedBlock(views[index] as AlertView);
      const cost = jsonBytes(block) + options.overhead;
      // Keep room for at least one line for each remaining alert when there are many.
      if (cost > left) break;
      detailed.push(block);
      left -= cost;
    }
  }
  const compact: string[] = [];
  for (; index < views.length; index += 1) {
    const line = compactLine(views[index] as AlertView, options.language);
    const cost = jsonBytes(line) + options.lineOverhead;
    if (cost > left) break;
    compact.push(line);
    left -= cost;
  }
  const omitted = views.length - index;
  return { detailed, compact, omitted, moreLine: omitted > 0 ? t.more(omitted) : undefined };
}

/** "**Label**: value" lines for the fields an alert has. */
export function fieldLines(view: AlertView, language: Language): string[] {
  const t = strings(language);
  const fields: [string, string | undefined][] = [
    [t.device, view.device],
    [t.location, view.location],
    [t.group, view.group],
    [t.value, view.value],
    [t.since, view.since],
    [t.until, view.until],
    [t.lasted, view.duration],
  ];
  return fields.filter((field): field is [string, string] => field[1] !== undefined).map(([label, value]) => `**${label}**: ${value}`);
}

export function linkLine(view: AlertView): string | undefined {
  return view.links.length === 0 ? undefined : view.links.map((link) => `[${link.label}](${link.url})`).join(' | ');
}

export function statusHeading(view: AlertView, language: Language): string {
  const t = strings(language);
  const icon = view.status === 'firing' ? '🔴' : '🟢';
  const severity = view.severity === undefined ? '' : ` · ${view.severity}`;
  return `${icon} **${view.status === 'firing' ? t.firing : t.resolved}${severity}** ${view.summary}`;
}
