/**
 * The process logger: pino, `error` as the error field. JSON lines on stdout
 * (what log collectors and `docker logs` want), or human-readable lines via
 * pino-pretty when stdout is a terminal. LOG_FORMAT=json|pretty overrides the
 * guess.
 */
import { PinoPretty } from 'pino-pretty';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export type LogFormat = 'json' | 'pretty';

/** pretty on a terminal, json otherwise, unless LOG_FORMAT says which. */
export function logFormat(env: Readonly<Record<string, string | undefined>>, stdoutIsTty: boolean): LogFormat {
  if (env.LOG_FORMAT === 'json' || env.LOG_FORMAT === 'pretty') return env.LOG_FORMAT;
  return stdoutIsTty ? 'pretty' : 'json';
}

export function createLogger(level: LogLevel, format: LogFormat = logFormat(process.env, process.stdout.isTTY === true)): Logger {
  const options = {
    name: 'sensorflow-ingestor',
    level,
    base: { pid: process.pid },
    // A safety net: config is logged through describeConfig(), which never
    // holds secret values; these paths catch any that slip into a log call.
    redact: { paths: ['password', '*.password', '*.*.password', 'token', '*.token', '*.*.token'], censor: '***' },
  };
  // Synchronous either way: lines keep their order and the last ones are out
  // before process.exit(). Logging is off the per-message path (rejects are
  // rate-limited), so the cost does not matter.
  const destination: DestinationStream = format === 'pretty'
    ? PinoPretty({ sync: true, destination: 1, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' })
    : pino.destination({ dest: 1, sync: true });
  return pino(options, destination);
}
