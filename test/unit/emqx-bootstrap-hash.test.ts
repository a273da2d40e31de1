/**
 * EMQX's bootstrap users file holds hashed records (`bootstrap_type = hash`),
 * so that EMQX 5.8.6 does not warn for every user at every start (issue 19,
 * defect 8). The hash is EMQX's own sha256 with the salt as suffix; the
 * vectors below were computed with Erlang/OTP from the functions EMQX 5.8.6
 * uses (apps/emqx/src/emqx_passwd.erl `hash/2` and `hex/1`,
 * apps/emqx_auth/src/emqx_authn/emqx_authn_password_hashing.erl `gen_salt/1`):
 *
 *   Salt = iolist_to_binary(io_lib:format("~32.16.0b", [16#0123456789abcdef0123456789ABCDEF])),
 *   string:lowercase(binary:encode_hex(crypto:hash(sha256, <<Password/binary, Salt/binary>>)))
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { emqxSalt, emqxSha256Suffix, hashedBootstrapUsers, bootstrapFileContent, type BootstrapUser } from '../../broker/emqx/users.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const users: BootstrapUser[] = [
  { user_id: 'monitor', password: 'monitor-dev-password', is_superuser: false },
  { user_id: 'gateway', password: 'gateway-dev-password', is_superuser: false },
];

describe('EMQX bootstrap records (broker/emqx/users.ts)', () => {
  test('the hash is EMQX 5.8.6\'s sha256 with salt suffix: vectors from Erlang', () => {
    assert.equal(emqxSha256Suffix('monitor-dev-password', '0123456789abcdef0123456789abcdef'), '24513c3981700c3b09c90a6239fcfe633383613751cb1c453394caea72c3603e');
    assert.equal(emqxSha256Suffix('密码:ü', '00000000000000000000000000000001'), '08bf816d76995255edd20531f68608a2fb4d14c9e7d7fc5b913600c58a683b3a');
  });

  test('a salt is 32 lowercase hex digits, fresh each time, as EMQX makes them', () => {
    const salts = new Set(Array.from({ length: 20 }, emqxSalt));
    assert.equal(salts.size, 20);
    for (const salt of salts) assert.match(salt, /^[0-9a-f]{32}$/);
  });

  test('the file: user_id, password_hash, salt, is_superuser; no password in it', () => {
    const content = bootstrapFileContent(hashedBootstrapUsers(users, undefined, () => '0123456789abcdef0123456789abcdef'));
    assert.doesNotMatch(content, /dev-password/);
    assert.deepEqual(JSON.parse(content), [
      { user_id: 'monitor', password_hash: '24513c3981700c3b09c90a6239fcfe633383613751cb1c453394caea72c3603e', salt: '0123456789abcdef0123456789abcdef', is_superuser: false },
      { user_id: 'gateway', password_hash: emqxSha256Suffix('gateway-dev-password', '0123456789abcdef0123456789abcdef'), salt: '0123456789abcdef0123456789abcdef', is_superuser: false },
    ]);
  });

  test('written again with the same passwords it is byte for byte the same (EMQX skips equal records silently); a changed password gets a new record', () => {
    const first = bootstrapFileContent(hashedBootstrapUsers(users));
    assert.equal(bootstrapFileContent(hashedBootstrapUsers(users, first)), first);
    const changed = JSON.parse(bootstrapFileContent(hashedBootstrapUsers([{ ...users[0]!, password: 'new-long-secret' }, users[1]!], first))) as { user_id: string; password_hash: string; salt: string }[];
    const before = JSON.parse(first) as typeof changed;
    assert.notEqual(changed[0]!.salt, before[0]!.salt);
    assert.equal(changed[0]!.password_hash, emqxSha256Suffix('new-long-secret', changed[0]!.salt));
    assert.deepEqual(changed[1], before[1]);
    // A damaged or foreign previous file is ignored, never trusted.
    for (const junk of ['', 'not json', '{"user_id":"monitor"}', '[{"user_id":"monitor","password_hash":1,"salt":"x"}]']) {
      const records = hashedBootstrapUsers(users, junk, () => 'ab'.repeat(16));
      assert.equal(records[0]!.password_hash, emqxSha256Suffix('monitor-dev-password', 'ab'.repeat(16)), junk);
    }
  });

  test('a revoked device leaves the file: written without it, whatever the previous file held', () => {
    // EMQX 5.8.6 imports every user it lacks from the bootstrap file at every start and every
    // authentication config update (apps/emqx_auth_mnesia/src/emqx_authn_mnesia.erl: create/1 →
    // boostrap_user_from_file → import_users(…, #{override => false}); update/2 calls create/1).
    // A user deleted through the REST API but still in the file comes back at the next restart,
    // so revoking must take it out of the file: the file is made from .env and MQTT_DEVICES_FILE alone.
    const device = { user_id: 'dev-007', password: 'dev-007-long-secret', is_superuser: false };
    const withDevice = bootstrapFileContent(hashedBootstrapUsers([...users, device]));
    assert.ok((JSON.parse(withDevice) as { user_id: string }[]).some((user) => user.user_id === 'dev-007'));
    const revoked = JSON.parse(bootstrapFileContent(hashedBootstrapUsers(users, withDevice))) as { user_id: string }[];
    assert.deepEqual(revoked.map((user) => user.user_id), ['monitor', 'gateway']);
  });

  test('base.hocon imports hashed records with the algorithm the records are made with', async () => {
    const parseHocon = createRequire(import.meta.url)('@pushcorn/hocon-parser') as (options: { text: string; strict: boolean }) => Promise<{ authentication: Record<string, unknown>[] }>;
    const [authn] = (await parseHocon({ text: readFileSync(join(ROOT, 'broker', 'emqx', 'base.hocon'), 'utf8'), strict: true })).authentication;
    assert.equal(authn!.bootstrap_type, 'hash');
    assert.deepEqual(authn!.password_hash_algorithm, { name: 'sha256', salt_position: 'suffix' });
  });
});
