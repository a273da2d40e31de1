/**
 * Per-device broker users, shared by the compose stack's EMQX (its bootstrap
 * file, broker/emqx/users.ts) and `npm run stack` (the development broker's
 * users, or Mosquitto's password file). Pure.
 *
 * The file (MQTT_DEVICES_FILE), YAML:
 *
 *   devices:
 *     - { username: dev-001, password: "a long random secret" }
 *
 * A device's user name is its device id: the ACLs let it publish only under
 * `sensors/+/{user name}/#`, so it must be one topic level.
 */
import { parse } from 'yaml';

/** Users with a role of their own in every ACL (and the ingestor's client id, which EMQX's device listener sets from the user name). */
export const RESERVED_USER_NAMES: readonly string[] = ['monitor', 'gateway', 'commander', 'sensorflow-ingestor'];

export interface DeviceUser {
  readonly username: string;
  readonly password: string;
}

/**
 * Why a name cannot be a device's user name, or undefined when it can: it
 * becomes one level of `sensors/{location}/{device}/…`, so `/`, `+`, `#` (or
 * nothing at all) would widen the rule to other devices' topics.
 */
export function deviceNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (/[/+#]/.test(name)) return 'contains "/", "+" or "#" (a device\'s user name is one topic level)';
  if (name.startsWith('$')) return 'starts with "$"';
  return undefined;
}

/** Throws Error naming the file and the entry. */
export function parseDeviceUsers(file: string, content: string): DeviceUser[] {
  let document: unknown;
  try {
    document = parse(content);
  } catch (error) {
    throw new Error(`${file}: not YAML: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  const list = (document as { devices?: unknown } | null)?.devices ?? [];
  if (!Array.isArray(list)) throw new Error(`${file}: devices must be a list of { username, password }`);
  const seen = new Set<string>();
  return list.map((entry: unknown, index) => {
    const { username, password } = (entry ?? {}) as Record<string, unknown>;
    if (typeof username !== 'string' || typeof password !== 'string' || password === '') {
      throw new Error(`${file}: devices[${index}] must have a username and a non-empty password`);
    }
    const problem = deviceNameProblem(username) ?? (RESERVED_USER_NAMES.includes(username) ? 'is reserved for a user with its own role' : undefined);
    if (problem !== undefined) throw new Error(`${file}: devices[${index}]: the user name ${JSON.stringify(username)} ${problem}`);
    if (seen.has(username)) throw new Error(`${file}: devices[${index}]: ${JSON.stringify(username)} is listed twice`);
    seen.add(username);
    return { username, password };
  });
}
