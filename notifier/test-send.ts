/**
 * `npm run notifier -- --test [bot]`: sends one test message to each
 * configured bot (or the named one), signed like real alerts, and prints the
 * platform's reply, so a URL, secret or keyword problem shows before the first
 * real alert does.
 */
import { redactWebhookUrl, type BotConfig, type NotifierConfig } from './config.ts';
import { sendDingTalk } from './platforms/dingtalk.ts';
import { sendFeishu } from './platforms/feishu.ts';
import { createPostJson, type PostJson } from './platforms/outcome.ts';
import { dingTalkTestMessage } from './render/dingtalk.ts';
import { feishuTestMessage } from './render/feishu.ts';
import { strings } from './render/view.ts';

export interface TestResult {
  readonly bot: string;
  readonly delivered: boolean;
  readonly line: string;
}

export async function sendTestMessage(config: NotifierConfig, bot: BotConfig, post: PostJson = createPostJson(config.ca), now = Date.now()): Promise<TestResult> {
  const t = strings(config.language);
  const title = bot.keyword === undefined ? t.test : `${bot.keyword} ${t.test}`;
  const outcome =
    bot.platform === 'dingtalk'
      ? await sendDingTalk(post, bot, dingTalkTestMessage(title, t.testBody(bot.name)), now, config.requestTimeoutMs)
      : await sendFeishu(post, bot, feishuTestMessage(title, t.testBody(bot.name)), now, config.requestTimeoutMs);
  const target = `${bot.name} (${bot.platform}, ${redactWebhookUrl(bot.url)}, ${bot.secret === undefined ? 'unsigned' : 'signed'})`;
  const reply = 'reply' in outcome && outcome.reply !== undefined ? ` ${outcome.reply.trim()}` : '';
  // No HTTP status (a network or certificate error): the error itself.
  const status = 'status' in outcome && outcome.status !== undefined ? `HTTP ${outcome.status}` : outcome.kind === 'delivered' ? '' : outcome.detail;
  if (outcome.kind === 'delivered') return { bot: bot.name, delivered: true, line: `${target}: ${status}${reply} → delivered` };
  const advice = outcome.kind === 'misconfigured' ? ` → ${outcome.fix}` : ` → ${outcome.kind}: ${outcome.detail}`;
  return { bot: bot.name, delivered: false, line: `${target}: ${status}${reply}${advice}` };
}
