/**
 * What the image's health check asks, from the running service's own
 * settings (pure: the environment in, a target out).
 *
 * One image runs every service, so the check first tells them apart by
 * environment: HEALTHCHECK_MQTT=true is the simulator; a NOTIFIER_ setting
 * (the notifier needs NOTIFIER_TOKEN to start) is the notifier; anything else
 * is the ingestor, the image's default command. The URL then follows that
 * service's listen settings (the notifier's NOTIFIER_PORT / NOTIFIER_HOST,
 * the ingestor's HTTP_PORT / HTTP_HOST, with their defaults from the settings
 * tables), so a container run with another port is still checked where it
 * listens. HEALTHCHECK_URL, when set, wins over all of that.
 */
import { read, ConfigError, type Env } from './config/schema.ts';
import { COMMON } from './settings.ts';
import { INGESTOR } from '../ingestor/settings.ts';
import { NOTIFIER } from '../notifier/settings.ts';

export type HealthcheckTarget =
  | { kind: 'http'; url: string }
  | { kind: 'mqtt' }
  /** Nothing to ask: the one line the check prints. */
  | { kind: 'none'; problem: string };

/** The address to dial for a listen address: a wildcard is dialled on loopback. */
function dialHost(listen: string): string {
  if (listen === '0.0.0.0' || listen === '') return '127.0.0.1';
  if (listen === '::' || listen === '[::]') return '[::1]';
  return listen.includes(':') && !listen.startsWith('[') ? `[${listen}]` : listen;
}

const isNotifier = (env: Env): boolean => Object.keys(env).some((name) => name.startsWith('NOTIFIER_') && (env[name] ?? '').trim() !== '');

export function healthcheckTarget(env: Env): HealthcheckTarget {
  try {
    const url = read(env, COMMON.HEALTHCHECK_URL);
    if (url !== undefined) return { kind: 'http', url };
    if (read(env, COMMON.HEALTHCHECK_MQTT)) return { kind: 'mqtt' };
    const [portSetting, hostSetting] = isNotifier(env) ? [NOTIFIER.NOTIFIER_PORT, NOTIFIER.NOTIFIER_HOST] : [INGESTOR.HTTP_PORT, INGESTOR.HTTP_HOST];
    const port = read(env, portSetting);
    if (port === 0) return { kind: 'none', problem: `${portSetting.name}=0 turns the HTTP server off; set HEALTHCHECK_URL to what should be asked` };
    return { kind: 'http', url: `http://${dialHost(read(env, hostSetting))}:${port}/healthz` };
  } catch (error) {
    if (error instanceof ConfigError) return { kind: 'none', problem: error.message };
    throw error;
  }
}
