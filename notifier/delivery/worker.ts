/**
 * One bot's delivery loop: take the oldest queued notifications, wait for the
 * rate limiter, send (one notification, or a digest when the queue outgrows
 * the limit), and settle the outcome:
 *   delivered      delete the files
 *   retry          capped exponential backoff, then try again (the batch is
 *                  chosen afresh, so notifications that queued meanwhile merge in);
 *                  a notification still failing after giveUpAfterMs moves to dead/
 *   misconfigured  moves to dead/ at once with ONE error line saying what to fix
 *   rejected       moves to dead/ at once
 * Every HTTP request counts against the limiter, retries included, from the
 * moment it leaves until its reply is back (see limiter.ts: the platforms count
 * it when it arrives).
 */
import type { Logger } from 'pino';
import { redactWebhookUrl, type BotConfig } from '../config.ts';
import { sendDingTalk } from '../platforms/dingtalk.ts';
import { sendFeishu } from '../platforms/feishu.ts';
import type { PostJson, SendOutcome } from '../platforms/outcome.ts';
import type { NotifierMetrics } from '../metrics.ts';
import type { Clock } from './clock.ts';
import { checkWholeNumber } from '../../common/config/options.ts';
import type { Journal } from './journal.ts';
import { RateLimiter, type RateWindow } from './limiter.ts';
import { chooseBatch, type MessageOptions } from './render.ts';

export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

export interface WorkerOptions {
  readonly bot: BotConfig;
  readonly journal: Journal;
  readonly limits: readonly RateWindow[];
  readonly clock: Clock;
  readonly post: PostJson;
  readonly message: MessageOptions;
  readonly log: Logger;
  readonly metrics: NotifierMetrics;
  readonly backoff: Backoff;
  readonly giveUpAfterMs: number;
  readonly requestTimeoutMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 60_000 };

export class BotWorker {
  readonly #options: WorkerOptions;
  readonly #limiter: RateLimiter;
  readonly #stop = new AbortController();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #failures = 0;
  /** Bots whose misconfiguration was already logged since their last success: one line, not one per message. */
  #misconfiguredLogged = false;

  constructor(options: WorkerOptions) {
    checkWholeNumber('BotWorker', 'backoff.baseMs', options.backoff.baseMs, 1);
    checkWholeNumber('BotWorker', 'backoff.maxMs', options.backoff.maxMs, options.backoff.baseMs);
    checkWholeNumber('BotWorker', 'giveUpAfterMs', options.giveUpAfterMs, 1);
    checkWholeNumber('BotWorker', 'requestTimeoutMs', options.requestTimeoutMs, 1);
    this.#options = options;
    this.#limiter = new RateLimiter(options.limits);
    options.journal.onAdded(options.bot.name, () => this.#wake?.());
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops after the request in flight; what is queued stays on disk. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { journal, bot, clock } = this.#options;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      const queued = journal.pending(bot.name);
      this.#options.metrics.queued.set({ bot: bot.name }, queued.length);
      if (queued.length === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const wait = this.#limiter.waitMs(clock.now());
      if (wait > 0) {
        await clock.sleep(wait, signal);
        continue;
      }
      try {
        await this.#attempt(queued);
      } catch (error) {
        // A disk error settling the outcome: keep the files (they are retried) and slow down.
        this.#options.log.error({ bot: bot.name, error: (error as Error).message }, 'could not update the queue after a send');
        await clock.sleep(this.#options.backoff.maxMs, signal);
      }
    }
  }

  async #attempt(queued: Parameters<typeof chooseBatch>[1]): Promise<void> {
    const { bot, clock, journal, log, metrics } = this.#options;
    const now = clock.now();
    const { jobs, rendered } = chooseBatch(bot, queued, this.#limiter.canSendSeparately(queued.length, now), this.#options.message);
    const slot = this.#limiter.record(now);
    // Debug lines for an operator chasing a delivery; the URL is redacted (it holds the bot's token).
    log.debug({ bot: bot.name, url: redactWebhookUrl(bot.url), notifications: jobs.length, alerts: rendered.total }, 'sending');
    let outcome: SendOutcome;
    try {
      outcome = await this.#send(rendered.body, now);
    } finally {
      this.#limiter.settle(slot, clock.now());
    }
    log.debug({ bot: bot.name, outcome: outcome.kind, ...('status' in outcome && { status: outcome.status }), durationMs: clock.now() - now }, 'sent');
    const labels = { bot: bot.name };
    if (outcome.kind === 'delivered') {
      await journal.remove(bot.name, jobs);
      this.#failures = 0;
      this.#misconfiguredLogged = false;
      metrics.messages.inc(labels);
      metrics.delivered.inc(labels, jobs.length);
      if (jobs.length > 1) metrics.merged.inc(labels, jobs.length);
      log.info({ bot: bot.name, notifications: jobs.length, alerts: rendered.total, digest: jobs.length > 1 }, 'delivered');
      return;
    }
    metrics.failed.inc({ ...labels, reason: outcome.reason });
    if (outcome.kind === 'misconfigured') {
      if (!this.#misconfiguredLogged) {
        log.error({ bot: bot.name, platform: bot.platform, url: redactWebhookUrl(bot.url), reply: outcome.reply }, `${outcome.fix} (${outcome.detail}); not retried, kept in ${journal.deadDir(bot.name)}`);
        this.#misconfiguredLogged = true;
      }
      await this.#giveUp(jobs, `${outcome.reason}: ${outcome.detail}`);
      return;
    }
    if (outcome.kind === 'rejected') {
      log.error({ bot: bot.name, reply: outcome.reply, status: outcome.status }, `the platform refused the message (${outcome.detail}); not retried, kept in ${journal.deadDir(bot.name)}`);
      await this.#giveUp(jobs, `rejected: ${outcome.detail}`);
      return;
    }
    this.#failures += 1;
    const oldest = Math.min(...jobs.map((job) => job.receivedAt));
    if (clock.now() - oldest >= this.#options.giveUpAfterMs) {
      log.error({ bot: bot.name, attempts: this.#failures, reason: outcome.reason }, `giving up after ${this.#failures} failed attempts (${outcome.detail}); kept in ${journal.deadDir(bot.name)}`);
      await this.#giveUp(jobs, `gave up after retries: ${outcome.reason}: ${outcome.detail}`);
      return;
    }
    const { baseMs, maxMs } = this.#options.backoff;
    const delay = Math.min(maxMs, baseMs * 2 ** Math.min(this.#failures - 1, 30));
    log.warn({ bot: bot.name, reason: outcome.reason, detail: outcome.detail, attempt: this.#failures, retryInMs: delay }, 'delivery failed; will retry');
    await clock.sleep(delay, this.#stop.signal);
  }

  async #giveUp(jobs: Parameters<Journal['bury']>[1], reason: string): Promise<void> {
    const { bot, journal, metrics } = this.#options;
    await journal.bury(bot.name, jobs, reason);
    metrics.givenUp.inc({ bot: bot.name }, jobs.length);
  }

  #send(body: object, now: number): Promise<SendOutcome> {
    const { bot, post, requestTimeoutMs } = this.#options;
    return bot.platform === 'dingtalk' ? sendDingTalk(post, bot, body, now, requestTimeoutMs) : sendFeishu(post, bot, body, now, requestTimeoutMs);
  }
}
