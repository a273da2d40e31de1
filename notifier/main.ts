/**
 * The notifier's entry point.
 *   npm run notifier                 serve until SIGTERM / SIGINT
 *   npm run notifier -- --test [bot] send a test message to each (or one) bot, print the replies
 *
 * Exit codes: 0 clean shutdown / every test message delivered; 1 a test
 * message failed; 2 invalid configuration, unusable queue folder or port
 * (one line on stderr naming the setting).
 */
import { config as loadDotenv } from 'dotenv';
import { commandLine } from '../common/cli.ts';
import { refuseDevelopmentSecrets } from '../common/production.ts';
import { COMMON_SCHEMA } from '../common/settings.ts';
import { NOTIFIER_REFUSES, NOTIFIER_SCHEMA } from './settings.ts';
import { startNotifier } from './app.ts';
import { ConfigError, describeConfig, loadConfig, type NotifierConfig } from './config.ts';
import { JournalError } from './delivery/journal.ts';
import { createLogger } from './logger.ts';
import { sendTestMessage } from './test-send.ts';

const EXIT_CONFIG = 2;

function fail(message: string): never {
  process.stderr.write(`sensorflow-notifier: ${message}\n`);
  process.exit(EXIT_CONFIG);
}

function readConfig(): NotifierConfig {
  loadDotenv({ quiet: true });
  // SENSORFLOW_ENV=production: no development default secret gets through.
  refuseDevelopmentSecrets(process.env, NOTIFIER_REFUSES, 'sensorflow-notifier');
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`);
    throw error;
  }
}

async function runTest(config: NotifierConfig, only: string | undefined): Promise<void> {
  const bots = only === undefined ? config.bots : config.bots.filter((bot) => bot.name === only);
  if (config.bots.length === 0) fail('invalid configuration: no bot configured: set DINGTALK_WEBHOOK_URL, FEISHU_WEBHOOK_URL or NOTIFIER_CONFIG');
  if (bots.length === 0) fail(`invalid configuration: --test ${only}: no such bot; the bots are ${config.bots.map((bot) => bot.name).join(', ')}`);
  let failed = 0;
  for (const bot of bots) {
    const result = await sendTestMessage(config, bot);
    process.stdout.write(`${result.line}\n`);
    if (!result.delivered) failed += 1;
  }
  process.exit(failed === 0 ? 0 : 1);
}

async function serve(config: NotifierConfig): Promise<void> {
  const log = createLogger(config.logLevel);
  log.info({ config: describeConfig(config, process.env) }, 'starting');
  if (config.bots.length === 0) log.warn('no bot configured: webhooks are answered 503 until DINGTALK_WEBHOOK_URL, FEISHU_WEBHOOK_URL or NOTIFIER_CONFIG is set');
  let running;
  try {
    running = await startNotifier(config, log);
  } catch (error) {
    if (error instanceof JournalError) fail(`queue unusable: NOTIFIER_QUEUE_DIR=${JSON.stringify(config.queueDir)}: ${error.message}`);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') fail(`NOTIFIER_PORT=${config.port} NOTIFIER_HOST=${config.host}: cannot listen (${code})`);
    throw error;
  }
  log.info({ port: running.port, host: config.host }, 'listening');
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping; queued notifications stay on disk for the next start');
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ error: (error as Error).message }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

// --help, --version and unknown flags first: nothing is read or connected before.
const flags = commandLine({
  name: 'notifier',
  usage: `Usage: npm run notifier [-- --test [bot]]   (built: node dist/notifier/main.js)

Relays Grafana's webhook notifications to DingTalk and Feishu group bots,
signed, rate-limited and queued on disk until delivered. Configured by
environment variables (and NOTIFIER_CONFIG); a .env file in the working
directory fills in what the environment leaves unset. Exit codes: 0 clean
stop / every test message delivered, 1 a test message failed, 2 bad
configuration or an unusable queue folder / port.

Flags
  --test [bot]           send a test message to every bot (or the one named), print the replies, exit
`,
  flags: { test: 'optional-value' },
  schemas: [NOTIFIER_SCHEMA, COMMON_SCHEMA],
});
const config = readConfig();
if (flags.test !== undefined) {
  await runTest(config, flags.test === true ? undefined : flags.test);
} else {
  await serve(config);
}
