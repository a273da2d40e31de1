/**
 * The EMQX built-in database's bootstrap file (EMQX 5.7.2+, `bootstrap_file`
 * with `bootstrap_type = plain` in broker/emqx/base.hocon): a JSON array of
 * `{"user_id", "password", "is_superuser"}`. EMQX imports it when the
 * authenticator is created (each start), hashing the passwords with the
 * authenticator's algorithm, and never overwrites a user that already
 * exists (so a changed password is set through the REST API: docs/installation.md,
 * "Broker users"). Pure apart from the injected readFile.
 *
 * The users, matching broker/emqx/acl.conf:
 * - `monitor`: the ingestor (reads `$SYS` presence events and `sensors/#`);
 * - `gateway`: publishes for any device (the simulator, a field gateway);
 * - one user per device from MQTT_DEVICES_FILE (broker/device-users.ts):
 *   the ACL keeps each to `sensors/+/{its user name}/#`.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, read, readSettingFile, type Env, type ReadFile } from '../../common/config/schema.ts';
import { parseDeviceUsers } from '../device-users.ts';
import { EMQX_USERS } from './settings.ts';

export interface BootstrapUser {
  readonly user_id: string;
  readonly password: string;
  readonly is_superuser: boolean;
}

export class BootstrapError extends Error {
  override readonly name = 'BootstrapError';
}

/** The users EMQX must know, from the secrets in `.env` and the devices file. */
export function bootstrapUsers(env: Env, readFile: ReadFile = readFileSync): BootstrapUser[] {
  const users: BootstrapUser[] = [];
  try {
    for (const [user, variable] of [['monitor', EMQX_USERS.MQTT_MONITOR_PASSWORD], ['gateway', EMQX_USERS.MQTT_GATEWAY_PASSWORD]] as const) {
      const password = read(env, variable, readFile);
      if (password === undefined) throw new BootstrapError(`${variable.name}: expected the password of the EMQX user "${user}" (see .env)`);
      // Nobody is a superuser: a superuser skips the ACL, and the ACL is the point.
      users.push({ user_id: user, password, is_superuser: false });
    }
    const devicesFile = read(env, EMQX_USERS.MQTT_DEVICES_FILE, readFile);
    if (devicesFile !== undefined) {
      const content = readSettingFile(EMQX_USERS.MQTT_DEVICES_FILE.name, devicesFile, readFile).toString('utf8');
      let devices;
      try {
        devices = parseDeviceUsers(devicesFile, content);
      } catch (error) {
        throw new BootstrapError(`MQTT_DEVICES_FILE=${JSON.stringify(devicesFile)}: ${(error as Error).message.replace(`${devicesFile}: `, '')}`, { cause: error });
      }
      for (const device of devices) users.push({ user_id: device.username, password: device.password, is_superuser: false });
    }
  } catch (error) {
    if (error instanceof ConfigError) throw new BootstrapError(error.message);
    throw error;
  }
  return users;
}

export function bootstrapFileContent(users: readonly BootstrapUser[]): string {
  return `${JSON.stringify(users, null, 2)}\n`;
}
