/** The process logger: pino, JSON lines on stdout, `error` as the error field. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export function createLogger(level: LogLevel): Logger {
  return pino({
    name: 'sensorflow-ingestor',
    level,
    base: { pid: process.pid },
    // Belt and braces: config is logged through describeConfig(), which
    // already hides secrets; these paths catch any that slip into a log call.
    redact: { paths: ['password', '*.password', 'token', '*.token', '*.*.password', '*.*.token'], censor: '***' },
  });
}
