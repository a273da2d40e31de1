/** The process logger: pino JSON lines on stdout; secrets and webhook tokens never appear. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      name: 'sensorflow-notifier',
      level,
      base: { pid: process.pid },
      // A safety net: URLs are logged through redactWebhookUrl() and secrets never on purpose.
      redact: {
        paths: ['secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization', 'bot.url'],
        censor: '***',
      },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
