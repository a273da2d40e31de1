/** The development broker's users file: who may connect, with which role. */
import { timingSafeEqual } from 'node:crypto';
import { parse } from 'yaml';
import type { Role } from './acl.ts';

export interface Users {
  readonly allowAnonymousDevices: boolean;
  readonly users: ReadonlyMap<string, { readonly password: string; readonly role: Role }>;
}

export function parseUsers(file: string, content: string): Users {
  const document = parse(content) as { allow_anonymous_devices?: unknown; users?: unknown } | null;
  const allow = document?.allow_anonymous_devices ?? true;
  if (typeof allow !== 'boolean') throw new Error(`${file}: allow_anonymous_devices must be true or false`);
  const list = document?.users ?? [];
  if (!Array.isArray(list)) throw new Error(`${file}: users must be a list of { username, password, role }`);
  const users = new Map<string, { password: string; role: Role }>();
  for (const [index, user] of list.entries()) {
    const { username, password, role } = (user ?? {}) as Record<string, unknown>;
    if (typeof username !== 'string' || username === '' || typeof password !== 'string' || (role !== 'monitor' && role !== 'device')) {
      throw new Error(`${file}: users[${index}] must have a username, a password and a role (monitor or device)`);
    }
    users.set(username, { password, role });
  }
  return { allowAnonymousDevices: allow, users };
}

/** The role of a client presenting these credentials, or undefined when refused. */
export function authenticate(users: Users, username: string | undefined, password: Buffer | undefined): Role | undefined {
  if (username === undefined || username === '') return users.allowAnonymousDevices ? 'device' : undefined;
  const user = users.users.get(username);
  if (user === undefined || password === undefined) return undefined;
  const expected = Buffer.from(user.password);
  return expected.length === password.length && timingSafeEqual(expected, password) ? user.role : undefined;
}
