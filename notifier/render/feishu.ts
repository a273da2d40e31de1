/**
 * Feishu custom bot message: an interactive card, red header while anything
 * fires, green when all is resolved; mentions as `<at id=…></at>` in lark_md.
 * Pure: the signature (timestamp + sign in the body) is added when sending.
 */
import { fieldLines, fit, linkLine, statusHeading, summarize, type Batch, type RenderOptions } from './layout.ts';
import type { Rendered } from './dingtalk.ts';
import type { AlertView } from './view.ts';

/** Feishu rejects request bodies over 20 KB; this leaves room for timestamp and sign. */
export const FEISHU_MAX_BODY_BYTES = 19_000;

export interface FeishuElement {
  readonly tag: string;
  readonly text?: { readonly tag: 'lark_md' | 'plain_text'; readonly content: string };
  readonly elements?: readonly { readonly tag: 'lark_md' | 'plain_text'; readonly content: string }[];
}

export interface FeishuCard {
  readonly config: { readonly wide_screen_mode: boolean };
  readonly header: { readonly template: 'red' | 'green' | 'blue'; readonly title: { readonly tag: 'plain_text'; readonly content: string } };
  readonly elements: readonly FeishuElement[];
}

export interface FeishuMessage {
  readonly msg_type: 'interactive';
  readonly card: FeishuCard;
}

const div = (content: string): FeishuElement => ({ tag: 'div', text: { tag: 'lark_md', content } });
const HR: FeishuElement = { tag: 'hr' };

function block(view: AlertView, options: RenderOptions): string {
  const lines = [statusHeading(view, options.language)];
  if (view.description !== undefined) lines.push(view.description);
  lines.push(...fieldLines(view, options.language));
  const links = linkLine(view);
  if (links !== undefined) lines.push(links);
  return lines.join('\n');
}

export function renderFeishu(batch: Batch, options: RenderOptions, maxBytes = FEISHU_MAX_BODY_BYTES): Rendered<FeishuMessage> {
  const summary = summarize(batch, options);
  const mentions = options.bot.mentions;
  const mention = summary.mention && (mentions.userIds.length > 0 || mentions.all);
  const mentionLine = mention ? [...mentions.userIds.map((id) => `<at id=${id}></at>`), ...(mentions.all ? ['<at id=all></at>'] : [])].join(' ') : undefined;
  const envelope: FeishuMessage = {
    msg_type: 'interactive',
    card: {
      config: { wide_screen_mode: true },
      header: { template: summary.firing > 0 ? 'red' : 'green', title: { tag: 'plain_text', content: summary.title } },
      elements: mentionLine === undefined ? [] : [div(mentionLine)],
    },
  };
  const elementOverhead = Buffer.byteLength(JSON.stringify([HR, div('')]));
  // The estimate is close but not exact; shrink the budget until the body fits.
  let budget = maxBytes - Buffer.byteLength(JSON.stringify(envelope)) - elementOverhead * 2;
  for (;;) {
    const fitted = fit(summary.views, (view) => block(view, options), {
      budget,
      overhead: elementOverhead,
      lineOverhead: 2,
      language: options.language,
      detailed: !summary.digest,
    });
    const elements: FeishuElement[] = [...envelope.card.elements];
    for (const text of fitted.detailed) {
      if (elements.length > 0) elements.push(HR);
      elements.push(div(text));
    }
    const tail = [...fitted.compact, ...(fitted.moreLine === undefined ? [] : [fitted.moreLine])];
    if (tail.length > 0) {
      if (elements.length > 0) elements.push(HR);
      elements.push(div(tail.join('\n')));
    }
    const body: FeishuMessage = { ...envelope, card: { ...envelope.card, elements } };
    const excess = Buffer.byteLength(JSON.stringify(body)) - maxBytes;
    if (excess <= 0 || budget <= 0) return { body, listed: fitted.detailed.length + fitted.compact.length, total: summary.views.length };
    budget -= excess;
  }
}

export function feishuTestMessage(title: string, text: string): FeishuMessage {
  return {
    msg_type: 'interactive',
    card: { config: { wide_screen_mode: true }, header: { template: 'blue', title: { tag: 'plain_text', content: title } }, elements: [div(text)] },
  };
}
