/**
 * Variables every sensorflow service reads: the production switch, the log
 * format, and the image's health check (common/healthcheck.ts).
 */
import { boolean, oneOf, url } from './config/parsers.ts';
import { optional, required, type Schema } from './config/schema.ts';

export const ENVIRONMENTS = ['development', 'production'] as const;
export type SensorflowEnvironment = (typeof ENVIRONMENTS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Every long-running program's log level; each lists it in its own table. */
export const LOG_LEVEL = required({ name: 'LOG_LEVEL', parse: oneOf(LOG_LEVELS), default: 'info', doc: '`fatal` … `trace`, `silent`' });

export const COMMON = {
  SENSORFLOW_ENV: required({
    name: 'SENSORFLOW_ENV',
    parse: oneOf(ENVIRONMENTS),
    default: 'development',
    doc: '`production`: refuse to start while a secret holds a development default from `.env` (exit 2, naming it)',
  }),
  LOG_FORMAT: optional({
    name: 'LOG_FORMAT',
    parse: oneOf(['json', 'pretty'] as const),
    defaultDoc: '`pretty` on a terminal, else `json`',
    doc: 'log lines human-readable (pino-pretty) or JSON (ingestor, notifier)',
  }),
  HEALTHCHECK_URL: optional({
    name: 'HEALTHCHECK_URL',
    parse: url(['http:', 'https:'], 'http://127.0.0.1:8080/healthz'),
    defaultDoc: 'the service\'s own `/healthz`: `NOTIFIER_PORT` / `NOTIFIER_HOST` for the notifier, `HTTP_PORT` / `HTTP_HOST` for the ingestor (`0.0.0.0` asked on `127.0.0.1`)',
    doc: 'what the image\'s `HEALTHCHECK` asks instead (common/healthcheck-target.ts)',
  }),
  HEALTHCHECK_MQTT: required({
    name: 'HEALTHCHECK_MQTT',
    parse: boolean,
    default: 'false',
    doc: '`true`: the health check connects to `MQTT_URL` as `MQTT_USERNAME` instead (the simulator, which has no HTTP server)',
  }),
} as const;

export const COMMON_SCHEMA: Schema = { program: 'every service', variables: Object.values(COMMON) };
