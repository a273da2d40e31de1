/** The development broker's users file: who may connect, with which role. Pure. */
import { timingSafeEqual } from 'node:crypto';
import { parse } from 'yaml';
import { deviceNameProblem } from '../device-users.ts';
import { ROLES, type Identity, type Role } from './acl.ts';

export interface Users {
  readonly users: ReadonlyMap<string, { readonly password: string; readonly role: Role }>;
}

export function parseUsers(file: string, content: string): Users {
  const document = parse(content) as { allow_anonymous_devices?: unknown; users?: unknown } | null;
  // Anonymous devices had no user name to be identified by; a file that still asks for them is refused, not ignored.
  if (document?.allow_anonymous_devices === true) {
    throw new Error(`${file}: allow_anonymous_devices: true is no longer supported: a device is identified by its user name; add a user per device (role device) or a gateway (role gateway)`);
  }
  const list = document?.users ?? [];
  if (!Array.isArray(list)) throw new Error(`${file}: users must be a list of { username, password, role }`);
  const users = new Map<string, { password: string; role: Role }>();
  for (const [index, user] of list.entries()) {
    const { username, password, role } = (user ?? {}) as Record<string, unknown>;
    if (typeof username !== 'string' || username === '' || typeof password !== 'string' || !ROLES.includes(role as Role)) {
      throw new Error(`${file}: users[${index}] must have a username, a password and a role (${ROLES.join(', ')})`);
    }
    const problem = role === 'device' ? deviceNameProblem(username) : undefined;
    if (problem !== undefined) throw new Error(`${file}: users[${index}]: the device user name ${JSON.stringify(username)} ${problem}`);
    if (users.has(username)) throw new Error(`${file}: users[${index}]: ${JSON.stringify(username)} is listed twice`);
    users.set(username, { password, role: role as Role });
  }
  return { users };
}

/** Who a client presenting these credentials is, or undefined when refused (no user name included). */
export function authenticate(users: Users, username: string | undefined, password: Buffer | undefined): Identity | undefined {
  if (username === undefined || username === '' || password === undefined) return undefined;
  const user = users.users.get(username);
  if (user === undefined) return undefined;
  const expected = Buffer.from(user.password);
  return expected.length === password.length && timingSafeEqual(expected, password) ? { username, role: user.role } : undefined;
}
