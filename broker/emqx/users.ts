/**
 * The EMQX built-in database's bootstrap file (EMQX 5.7.2+, `bootstrap_file`
 * with `bootstrap_type = plain` in broker/emqx/base.hocon): a JSON array of
 * `{"user_id", "password", "is_superuser"}`. EMQX imports it when the
 * authenticator is created (each start), hashing the passwords with the
 * authenticator's algorithm, and never overwrites a user that already
 * exists. Pure.
 *
 * Two users, matching broker/emqx/acl.conf:
 * - `monitor`: the ingestor (reads `$SYS` presence events and `sensors/#`);
 * - `device`: the shared device login the simulator uses; the ACL keeps each
 *   device to `sensors/+/{its client id}/#`.
 */
import { ConfigError, read, type Env, type ReadFile } from '../../common/config/schema.ts';
import { EMQX_USERS } from './settings.ts';

export interface BootstrapUser {
  readonly user_id: string;
  readonly password: string;
  readonly is_superuser: boolean;
}

export class BootstrapError extends Error {
  override readonly name = 'BootstrapError';
}

/** The users EMQX must know, from the secrets in `.env`. */
export function bootstrapUsers(env: Env, readFile?: ReadFile): BootstrapUser[] {
  const users: BootstrapUser[] = [];
  for (const [user, variable] of [['monitor', EMQX_USERS.MQTT_MONITOR_PASSWORD], ['device', EMQX_USERS.MQTT_DEVICE_PASSWORD]] as const) {
    let password: string | undefined;
    try {
      password = read(env, variable, readFile);
    } catch (error) {
      if (error instanceof ConfigError) throw new BootstrapError(error.message);
      throw error;
    }
    if (password === undefined) throw new BootstrapError(`${variable.name}: expected the password of the EMQX user "${user}" (see .env)`);
    // Nobody is a superuser: a superuser skips the ACL, and the ACL is the point.
    users.push({ user_id: user, password, is_superuser: false });
  }
  return users;
}

export function bootstrapFileContent(users: readonly BootstrapUser[]): string {
  return `${JSON.stringify(users, null, 2)}\n`;
}
