/**
 * Credentials for the real services in security tests: a Mosquitto password
 * file made by `mosquitto_passwd` (from the mosquitto package), the shipped
 * ACL, and the first user of an InfluxDB 1.x with `auth-enabled`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { REPO_ROOT } from './ingestor.ts';

/** The ACL this repository ships for Mosquitto: tests run against the file itself. */
export const SHIPPED_MOSQUITTO_ACL = join(REPO_ROOT, 'broker', 'mosquitto', 'acl');

/** A random secret with a recognisable prefix: easy to grep for, impossible to hit by chance. */
export const makeSecret = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`;

/**
 * Every form in which a secret could end up in text: whole, its first 20
 * characters, URL-encoded, base64, and inside a Basic auth header for each of
 * `users`.
 */
export function secretForms(secret: string, users: readonly string[] = []): string[] {
  const base64 = (text: string): string => Buffer.from(text).toString('base64');
  return [secret, secret.slice(0, 20), encodeURIComponent(secret), base64(secret), ...users.map((user) => base64(`${user}:${secret}`))];
}

/** Fails naming `where` and the secret's label (never its value) when `haystack` holds any form of any secret. */
export function assertNoSecret(haystack: string, secrets: readonly string[], where: string, users: readonly string[] = []): void {
  for (const secret of secrets) {
    for (const form of secretForms(secret, users)) {
      if (haystack.includes(form)) throw new assert.AssertionError({ message: `${where} contains a secret (${secret.split('-').slice(0, -1).join('-')})` });
    }
  }
}

/** Writes a Mosquitto password file (hashed by mosquitto_passwd) for these users; returns its path. */
export function writePasswordFile(dir: string, users: Readonly<Record<string, string>>): string {
  const path = join(dir, 'passwd');
  writeFileSync(path, '');
  for (const [username, password] of Object.entries(users)) {
    execFileSync('mosquitto_passwd', ['-b', path, username, password], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return path;
}

/** mosquitto.conf lines: no anonymous clients, these users, the shipped ACL. */
export const mosquittoAuthConfig = (passwordFile: string, aclFile = SHIPPED_MOSQUITTO_ACL): string[] => [
  'allow_anonymous false',
  `password_file ${passwordFile}`,
  `acl_file ${aclFile}`,
];

/** Connects, or resolves with the error the broker or TLS gave (tests assert on refusals). */
export async function tryConnect(url: string, options: IClientOptions): Promise<MqttClient | (Error & { code?: number | string })> {
  try {
    return await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...options });
  } catch (error) {
    return error as Error & { code?: number | string };
  }
}

export interface InfluxUser {
  readonly username: string;
  readonly password: string;
}

/**
 * On an InfluxDB 1.x with `auth-enabled` and no users yet: creates the admin
 * (allowed once, unauthenticated, by InfluxDB's own bootstrap rule).
 */
export async function bootstrapInfluxAdmin(url: string, admin: InfluxUser): Promise<void> {
  const params = new URLSearchParams({ q: `CREATE USER "${admin.username}" WITH PASSWORD '${admin.password}' WITH ALL PRIVILEGES` });
  const response = await fetch(`${url}/query`, { method: 'POST', body: params });
  const text = await response.text();
  if (!response.ok || text.includes('"error"')) throw new Error(`creating the InfluxDB admin: HTTP ${response.status}: ${text}`);
}
