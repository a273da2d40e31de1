/**
 * The development broker's access rules: the same as the compose stack's EMQX
 * (broker/emqx/acl.conf) and Mosquitto (broker/mosquitto/acl). Pure.
 *
 * The identity is the user name, never the client id: a client picks its own
 * client id, so a rule on it would let any device with valid credentials
 * publish as any other by connecting with that device's id.
 *
 * - monitor (the ingestor): subscribes to presence events
 *   (`$SYS/brokers/+/clients/#`), `sensors/#` and Sparkplug B (`spBv1.0/#`);
 *   publishes nothing.
 * - device: publishes only under `sensors/+/{its user name}/#`; subscribes
 *   only within its own command topics `sensors/+/{its user name}/commands/#`.
 * - gateway (a field gateway bridging many sensors, or the simulator): trusted
 *   like each device it speaks for: publishes under any `sensors/+/{device}/#`,
 *   subscribes within any device's command topics; reads no telemetry.
 * - commander (a backend that commands devices): publishes only to
 *   `sensors/+/+/commands/#`; subscribes to nothing.
 * - nobody but the monitor reads `$SYS/#`, and no client publishes to it.
 */
export { deviceNameProblem } from '../device-users.ts';

export type Role = 'monitor' | 'device' | 'gateway' | 'commander';
export const ROLES: readonly Role[] = ['monitor', 'device', 'gateway', 'commander'];

/** Who is asking: the authenticated user name and the role the users file gives it. */
export interface Identity {
  readonly username: string;
  readonly role: Role;
}

/** `$share/{group}/{filter}` → `{filter}`. */
function unshared(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  return filter.split('/').slice(2).join('/');
}

/**
 * `sensors/{location}/{device}[/{rest...}]` split into levels, or undefined:
 * at least `minLevels`. Publishing needs three (`sensors/+/{user}/#` matches
 * `sensors/lab/dev-1` too, in EMQX and Mosquitto alike), command filters four.
 */
function sensorLevels(topic: string, minLevels: number): string[] | undefined {
  const levels = topic.split('/');
  return levels.length >= minLevels && levels[0] === 'sensors' ? levels : undefined;
}

export function mayPublish(identity: Identity, topic: string): boolean {
  // Wildcards never belong in a topic name, and `$` topics are the broker's.
  if (topic.startsWith('$') || /[+#]/.test(topic)) return false;
  const levels = sensorLevels(topic, 3);
  if (levels === undefined) return false;
  switch (identity.role) {
    case 'device': return levels[2] === identity.username;
    case 'gateway': return true;
    case 'commander': return levels[3] === 'commands';
    case 'monitor': return false;
  }
}

/**
 * A subscription is granted only when every topic it can match is allowed:
 * for devices and gateways, `sensors/{location or +}/{device}/commands[/…]`.
 */
export function maySubscribe(identity: Identity, filter: string): boolean {
  const plain = unshared(filter);
  if (identity.role === 'monitor') {
    // EMQX's acl.conf: `$SYS/brokers/+/clients/#` (presence events), `sensors/#` and `spBv1.0/#`.
    const levels = plain.split('/');
    return plain.startsWith('sensors/') || plain === 'spBv1.0' || plain.startsWith('spBv1.0/') || (levels.length >= 4 && levels[0] === '$SYS' && levels[1] === 'brokers' && levels[2] !== '#' && levels[3] === 'clients');
  }
  if (identity.role !== 'device' && identity.role !== 'gateway') return false;
  const levels = sensorLevels(plain, 4);
  if (levels === undefined || levels[1] === '#' || levels[3] !== 'commands') return false;
  return identity.role === 'gateway' ? levels[2] !== '#' : levels[2] === identity.username;
}
