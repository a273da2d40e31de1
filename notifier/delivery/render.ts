/**
 * Batch → platform message, and the choice of batch: one notification when the
 * rate limit has room for every queued one, otherwise a digest of as many
 * queued notifications as fit in one message (every alert gets its line; the
 * rest wait for the next send). Pure.
 */
import type { BotConfig, Language } from '../config.ts';
import { renderDingTalk, type Rendered } from '../render/dingtalk.ts';
import { renderFeishu } from '../render/feishu.ts';
import type { Batch } from '../render/layout.ts';
import type { Job } from './journal.ts';

export interface MessageOptions {
  readonly language: Language;
  readonly timeZone: string;
}

export function renderFor(bot: BotConfig, batch: Batch, options: MessageOptions): Rendered<object> {
  const renderOptions = { ...options, bot };
  return bot.platform === 'dingtalk' ? renderDingTalk(batch, renderOptions) : renderFeishu(batch, renderOptions);
}

export interface Chosen {
  readonly jobs: readonly Job[];
  readonly rendered: Rendered<object>;
}

/**
 * `separately`: whether the rate limit lets every queued notification go as
 * its own message soon (RateLimiter.canSendSeparately). If so the oldest goes
 * alone; else the queue is merged into a digest, as large as one message
 * holds without leaving any of its alerts out.
 */
export function chooseBatch(bot: BotConfig, queued: readonly Job[], separately: boolean, options: MessageOptions): Chosen {
  const first = queued.slice(0, 1);
  const single = (): Chosen => ({ jobs: first, rendered: renderFor(bot, { notifications: first.map((job) => job.notification) }, options) });
  if (queued.length <= 1 || separately) return single();
  let count = queued.length;
  while (count > 1) {
    const jobs = queued.slice(0, count);
    const rendered = renderFor(bot, { notifications: jobs.map((job) => job.notification) }, options);
    if (rendered.listed === rendered.total) return { jobs, rendered };
    // Shrink in proportion to what did not fit, at least by one.
    count = Math.min(count - 1, Math.max(1, Math.floor((count * rendered.listed) / rendered.total)));
  }
  return single();
}
