/**
 * DingTalk custom robot message: `markdown`, with `at` for critical alerts.
 * DingTalk shows a mention only when the text also contains `@<mobile>`, so
 * both are written. Pure: the signature is added when sending (platforms/).
 */
import { fieldLines, fit, jsonBytes, linkLine, statusHeading, summarize, type Batch, type RenderOptions } from './layout.ts';
import type { AlertView } from './view.ts';

/** Body size we stay under; DingTalk rejects markdown messages of about 20,000 bytes. */
export const DINGTALK_MAX_BODY_BYTES = 18_000;

export interface DingTalkMessage {
  readonly msgtype: 'markdown';
  readonly markdown: { readonly title: string; readonly text: string };
  readonly at: { readonly atMobiles: readonly string[]; readonly isAtAll: boolean };
}

export interface Rendered<T> {
  readonly body: T;
  /** Alerts the message lists (in full or as a line). */
  readonly listed: number;
  readonly total: number;
}

// DingTalk's markdown needs a blank line (or two trailing spaces) to break a line.
const BREAK = '\n\n';

function block(view: AlertView, options: RenderOptions): string {
  const lines = [statusHeading(view, options.language)];
  if (view.description !== undefined) lines.push(`> ${view.description.replace(/\n+/g, ' ')}`);
  lines.push(...fieldLines(view, options.language).map((line) => `- ${line}`));
  const links = linkLine(view);
  if (links !== undefined) lines.push(links);
  return lines.join(BREAK);
}

export function renderDingTalk(batch: Batch, options: RenderOptions, maxBytes = DINGTALK_MAX_BODY_BYTES): Rendered<DingTalkMessage> {
  const summary = summarize(batch, options);
  const mentions = options.bot.mentions;
  const mention = summary.mention && (mentions.mobiles.length > 0 || mentions.all);
  const mentionLine = mention ? [...mentions.mobiles.map((mobile) => `@${mobile}`), ...(mentions.all ? ['@所有人'] : [])].join(' ') : undefined;
  const heading = `#### ${summary.title}`;
  const envelope: DingTalkMessage = {
    msgtype: 'markdown',
    markdown: { title: summary.title, text: '' },
    at: { atMobiles: mention ? mentions.mobiles : [], isAtAll: mention && mentions.all },
  };
  const fixed = Buffer.byteLength(JSON.stringify(envelope)) + jsonBytes(heading) + (mentionLine === undefined ? 0 : jsonBytes(mentionLine) + jsonBytes(BREAK));
  // The estimate is close but not exact (separators); shrink the budget until the body fits.
  let budget = maxBytes - fixed - 2 * jsonBytes(BREAK);
  for (;;) {
    const fitted = fit(summary.views, (view) => block(view, options), {
      budget,
      overhead: jsonBytes(`${BREAK}---${BREAK}`),
      lineOverhead: jsonBytes('- \n'),
      language: options.language,
      detailed: !summary.digest,
    });
    const sections = [heading, ...fitted.detailed.flatMap((text, index) => (index === 0 ? [text] : ['---', text]))];
    if (fitted.compact.length > 0) sections.push(fitted.compact.map((line) => `- ${line}`).join('\n'));
    if (fitted.moreLine !== undefined) sections.push(fitted.moreLine);
    if (mentionLine !== undefined) sections.push(mentionLine);
    const body: DingTalkMessage = { ...envelope, markdown: { title: summary.title, text: sections.join(BREAK) } };
    const excess = Buffer.byteLength(JSON.stringify(body)) - maxBytes;
    if (excess <= 0 || budget <= 0) return { body, listed: fitted.detailed.length + fitted.compact.length, total: summary.views.length };
    budget -= excess;
  }
}

export function dingTalkTestMessage(title: string, text: string): DingTalkMessage {
  return { msgtype: 'markdown', markdown: { title, text: `#### ${title}${BREAK}${text}` }, at: { atMobiles: [], isAtAll: false } };
}
