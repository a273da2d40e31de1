/** The process logger: pino, JSON lines on stdout, `error` as the error field. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export function createLogger(level: LogLevel): Logger {
  const options = {
    name: 'sensorflow-ingestor',
    level,
    base: { pid: process.pid },
    // A safety net: config is logged through describeConfig(), which never
    // holds secret values; these paths catch any that slip into a log call.
    redact: { paths: ['password', '*.password', '*.*.password', 'token', '*.token', '*.*.token'], censor: '***' },
  };
  // Synchronous: lines keep their order and the last ones are out before
  // process.exit(). Logging is off the per-message path (rejects are
  // rate-limited), so the cost does not matter.
  return pino(options, pino.destination({ dest: 1, sync: true }));
}
