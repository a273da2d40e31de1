/**
 * The notifier assembled: queue on disk → one worker per bot → HTTP server.
 * main.ts runs it as a process; tests run it in-process with a fake clock.
 *
 *   Grafana ─POST─▶ server ─fsync─▶ journal (queue/<bot>/) ─▶ worker per bot ─signed─▶ DingTalk / Feishu
 *                    (200 after this)                          (rate limit, digest, retry)
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { NotifierConfig } from './config.ts';
import { systemClock, type Clock } from './delivery/clock.ts';
import { Journal } from './delivery/journal.ts';
import { PLATFORM_LIMITS, type RateWindow } from './delivery/limiter.ts';
import { BotWorker, DEFAULT_BACKOFF, type Backoff } from './delivery/worker.ts';
import { createMetrics, type NotifierMetrics } from './metrics.ts';
import { createPostJson, type PostJson } from './platforms/outcome.ts';
import { createNotifierServer, listen } from './server.ts';

export interface StartOptions {
  readonly clock?: Clock;
  readonly post?: PostJson;
  readonly backoff?: Backoff;
  /** Override the documented per-platform limits (tests only). */
  readonly limits?: Partial<Record<'dingtalk' | 'feishu', readonly RateWindow[]>>;
  readonly defaultMetrics?: boolean;
}

export interface RunningNotifier {
  readonly port: number;
  readonly server: Server;
  readonly journal: Journal;
  readonly metrics: NotifierMetrics;
  stop(): Promise<void>;
}

export async function startNotifier(config: NotifierConfig, log: Logger, options: StartOptions = {}): Promise<RunningNotifier> {
  const clock = options.clock ?? systemClock;
  const post = options.post ?? createPostJson(config.ca);
  const journal = Journal.open(config.queueDir, config.bots.map((bot) => bot.name), log);
  const metrics = createMetrics(config.bots.map((bot) => bot.name), options.defaultMetrics ?? true);
  const workers = config.bots.map(
    (bot) =>
      new BotWorker({
        bot,
        journal,
        limits: options.limits?.[bot.platform] ?? PLATFORM_LIMITS[bot.platform],
        clock,
        post,
        message: { language: config.language, timeZone: config.timeZone },
        log,
        metrics,
        backoff: options.backoff ?? DEFAULT_BACKOFF,
        giveUpAfterMs: config.giveUpAfterMs,
        requestTimeoutMs: config.requestTimeoutMs,
      }),
  );
  for (const worker of workers) worker.start();
  let listening = false;
  const server = createNotifierServer({ config, journal, metrics, log, clock }, () => {
    const reasons: string[] = [];
    if (!listening) reasons.push('not listening yet');
    if (config.bots.length === 0) reasons.push('no bot configured: set DINGTALK_WEBHOOK_URL, FEISHU_WEBHOOK_URL or NOTIFIER_CONFIG');
    return { ready: reasons.length === 0, reasons };
  });
  const port = await listen(server, config.port, config.host);
  listening = true;
  return {
    port,
    server,
    journal,
    metrics,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all(workers.map((worker) => worker.stop()));
    },
  };
}
