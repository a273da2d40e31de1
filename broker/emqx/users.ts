/**
 * The EMQX built-in database's bootstrap file (EMQX 5.7.2+, `bootstrap_file`
 * with `bootstrap_type = hash` in broker/emqx/base.hocon): a JSON array of
 * `{"user_id", "password_hash", "salt", "is_superuser"}`, hashed as the
 * authenticator's `password_hash_algorithm` (sha256, salt suffix) says.
 * EMQX imports it when the authenticator is created (each start) and never
 * overwrites a user that already exists (so a changed password is set
 * through the REST API: docs/installation.md,
 * "Broker users").
 *
 * Why hashed, from EMQX 5.8.6's source: `import_users` with
 * `override => false` (apps/emqx_auth_mnesia/src/emqx_authn_mnesia.erl,
 * `boostrap_user_from_file`, `insert_user`) skips a record equal to the
 * stored one and logs the warning
 * `import_an_exists_userid_into_authentication_database_failed` for any
 * other. With `plain`, every start hashes each password with a fresh random
 * salt (`find_password_hash(plain, …)` → emqx_authn_password_hashing:hash), so
 * every user gave that warning at every start. With `hash` the record is
 * taken as written (`find_password_hash(hash, …)`); keeping each user's salt
 * from the previous file while its password is unchanged makes the record
 * identical, and EMQX skips it silently. A warning means the record EMQX
 * holds differs from the file's, not that the passwords differ: a password
 * set through the REST API (`update_user`, `do_update_user` →
 * emqx_authn_password_hashing:hash with a fresh salt) never equals the
 * file's record, even when it is the same password, so that user's warning
 * comes at every start until the file's records are imported through the
 * REST API (`POST /authentication/:id/import_users?type=hash`, which
 * overrides: docs/installation.md, "Broker users").
 *
 * The file is written from .env and MQTT_DEVICES_FILE alone: a user left out
 * of them (revoked) is not in it, whatever the previous file held. That
 * matters because EMQX imports every user it lacks from the file at every
 * start and every authentication config update (`create/1`, which `update/2`
 * calls): a user deleted through the REST API but still in the file comes
 * back at the next restart, crash or reboot.
 *
 * The users, matching broker/emqx/acl.conf:
 * - `monitor`: the ingestor (reads `$SYS` presence events and `sensors/#`);
 * - `gateway`: publishes for any device (the simulator, a field gateway);
 * - one user per device from MQTT_DEVICES_FILE (broker/device-users.ts):
 *   the ACL keeps each to `sensors/+/{its user name}/#`.
 * Pure apart from the injected readFile and salt source.
 */
import { createHash, randomBytes } from 'node:crypto';
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

/** A user as the bootstrap file holds it: no password, its hash and salt. */
export interface HashedBootstrapUser {
  readonly user_id: string;
  readonly password_hash: string;
  readonly salt: string;
  readonly is_superuser: boolean;
}

/**
 * EMQX's `sha256` with `salt_position = suffix` (apps/emqx/src/emqx_passwd.erl:
 * `hash({sha256, Salt, suffix}, Password)` = lowercase hex of
 * SHA-256(<<Password, Salt>>), both as UTF-8 bytes).
 */
export function emqxSha256Suffix(password: string, salt: string): string {
  return createHash('sha256').update(Buffer.concat([Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8')])).digest('hex');
}

/** A salt as EMQX makes one (emqx_authn_password_hashing:gen_salt): 128 random bits as 32 lowercase hex digits. */
export const emqxSalt = (): string => randomBytes(16).toString('hex');

/** The records of a previous bootstrap file, by user; anything unreadable counts as none. */
function previousRecords(previous: string | undefined): Map<string, HashedBootstrapUser> {
  if (previous === undefined) return new Map();
  try {
    const parsed = JSON.parse(previous) as unknown;
    if (!Array.isArray(parsed)) return new Map();
    const records = parsed.filter((entry): entry is HashedBootstrapUser =>
      typeof entry === 'object' && entry !== null && typeof (entry as HashedBootstrapUser).user_id === 'string'
      && typeof (entry as HashedBootstrapUser).password_hash === 'string' && typeof (entry as HashedBootstrapUser).salt === 'string');
    return new Map(records.map((record) => [record.user_id, record]));
  } catch {
    return new Map();
  }
}

/**
 * Hashed records for the users. A user whose previous record (from the last
 * file written) still matches its password keeps that salt and hash, so the
 * file, and what EMQX compares, stays the same from start to start.
 */
export function hashedBootstrapUsers(users: readonly BootstrapUser[], previous?: string, salt: () => string = emqxSalt): HashedBootstrapUser[] {
  const before = previousRecords(previous);
  return users.map(({ user_id, password, is_superuser }) => {
    const kept = before.get(user_id);
    if (kept !== undefined && emqxSha256Suffix(password, kept.salt) === kept.password_hash) return { user_id, password_hash: kept.password_hash, salt: kept.salt, is_superuser };
    const fresh = salt();
    return { user_id, password_hash: emqxSha256Suffix(password, fresh), salt: fresh, is_superuser };
  });
}

export function bootstrapFileContent(users: readonly HashedBootstrapUser[]): string {
  return `${JSON.stringify(users, null, 2)}\n`;
}
