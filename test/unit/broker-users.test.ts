/**
 * Per-device broker users at the entry points that read MQTT_DEVICES_FILE:
 * compose's one-shot `emqx-users` (broker/emqx/bootstrap.ts) and
 * `npm run stack` (scripts/stack.ts). Both run for real here; neither starts
 * a service before the file has been checked. A bad file: exit 2, one line
 * naming the setting, the entry and what is expected.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { emqxSha256Suffix } from '../../broker/emqx/users.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'sensorflow-broker-users-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(entry: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, entry)], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function devicesFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('emqx-users (broker/emqx/bootstrap.ts)', () => {
  test('writes monitor, gateway and each device from MQTT_DEVICES_FILE into the bootstrap file, readable by EMQX\'s group only', () => {
    const out = join(dir, 'emqx', 'users.json');
    const { status, stdout, stderr } = run('broker/emqx/bootstrap.ts', {
      MQTT_MONITOR_PASSWORD: 'm-secret', MQTT_GATEWAY_PASSWORD: 'g-secret', EMQX_BOOTSTRAP_FILE: out,
      MQTT_DEVICES_FILE: devicesFile('two.yaml', 'devices:\n  - { username: dev-001, password: one }\n  - { username: dev-002, password: two }\n'),
    });
    assert.equal(status, 0, stderr);
    assert.equal(stdout, `emqx-users: monitor, gateway and 2 device users written to ${out} (EMQX adds users it does not have yet; it never changes an existing user's password)\n`);
    const written = readFileSync(out, 'utf8');
    const records = JSON.parse(written) as { user_id: string; password_hash: string; salt: string; is_superuser: boolean }[];
    assert.deepEqual(records.map((r) => [r.user_id, r.password_hash, r.is_superuser]), [
      ['monitor', emqxSha256Suffix('m-secret', records[0]!.salt), false],
      ['gateway', emqxSha256Suffix('g-secret', records[1]!.salt), false],
      ['dev-001', emqxSha256Suffix('one', records[2]!.salt), false],
      ['dev-002', emqxSha256Suffix('two', records[3]!.salt), false],
    ]);
    assert.doesNotMatch(written, /secret/, 'no password in the file');
    assert.equal(statSync(out).mode & 0o777, 0o640);
    // Run again (every `docker compose up`): the same file, so EMQX finds every record equal to its own.
    const again = run('broker/emqx/bootstrap.ts', {
      MQTT_MONITOR_PASSWORD: 'm-secret', MQTT_GATEWAY_PASSWORD: 'g-secret', EMQX_BOOTSTRAP_FILE: out, MQTT_DEVICES_FILE: join(dir, 'two.yaml'),
    });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(readFileSync(out, 'utf8'), written);
  });

  test('a bad devices file or a missing password: exit 2, one line, no file written', () => {
    const cases: [Record<string, string>, string][] = [
      [{ MQTT_DEVICES_FILE: devicesFile('monitor.yaml', 'devices:\n  - { username: monitor, password: x }\n') }, `emqx-users: invalid configuration: MQTT_DEVICES_FILE=${JSON.stringify(join(dir, 'monitor.yaml'))}: ` + 'devices[0]: the user name "monitor" is reserved for a user with its own role'],
      [{ MQTT_DEVICES_FILE: devicesFile('hash.yaml', 'devices:\n  - { username: "dev-#", password: x }\n') }, `emqx-users: invalid configuration: MQTT_DEVICES_FILE=${JSON.stringify(join(dir, 'hash.yaml'))}: ` + 'devices[0]: the user name "dev-#" contains "/", "+" or "#" (a device\'s user name is one topic level)'],
      [{ MQTT_DEVICES_FILE: devicesFile('list.yaml', 'devices: dev-001\n') }, `emqx-users: invalid configuration: MQTT_DEVICES_FILE=${JSON.stringify(join(dir, 'list.yaml'))}: ` + 'devices must be a list of { username, password }'],
      [{ MQTT_DEVICES_FILE: join(dir, 'missing.yaml') }, `emqx-users: invalid configuration: MQTT_DEVICES_FILE="${join(dir, 'missing.yaml')}": cannot read the file (ENOENT)`],
      // What a container sees where a bind-mounted host file was missing: a directory (issue 19, defect 3).
      [{ MQTT_DEVICES_FILE: dir }, `emqx-users: invalid configuration: MQTT_DEVICES_FILE="${dir}": expected a file, found a directory (EISDIR; a container gets one where a bind-mounted host file does not exist)`],
      [{ MQTT_GATEWAY_PASSWORD: '' }, 'emqx-users: invalid configuration: MQTT_GATEWAY_PASSWORD: expected the password of the EMQX user "gateway" (see .env)'],
    ];
    for (const [env, message] of cases) {
      const out = join(dir, 'refused', 'users.json');
      const { status, stderr } = run('broker/emqx/bootstrap.ts', { MQTT_MONITOR_PASSWORD: 'm', MQTT_GATEWAY_PASSWORD: 'g', EMQX_BOOTSTRAP_FILE: out, ...env });
      assert.equal(status, 2, stderr);
      assert.equal(stderr, `${message}\n`);
      assert.equal(existsSync(out), false);
    }
  });
});

describe('npm run stack (scripts/stack.ts)', () => {
  test('a bad MQTT_DEVICES_FILE stops it before anything starts: exit 2, one line', () => {
    const stackDir = join(dir, 'stack');
    for (const [file, problem] of [
      [devicesFile('slash.yaml', 'devices:\n  - { username: lab/dev-1, password: x }\n'), 'devices[0]: the user name "lab/dev-1" contains "/", "+" or "#" (a device\'s user name is one topic level)'],
      [join(dir, 'absent.yaml'), 'cannot read the file (ENOENT)'],
    ] as const) {
      const { status, stderr } = run('scripts/stack.ts', { STACK_DIR: stackDir, MQTT_DEVICES_FILE: file });
      assert.equal(status, 2, stderr);
      assert.equal(stderr, `stack: invalid configuration: MQTT_DEVICES_FILE=${JSON.stringify(file)}: ${problem}\n`);
      assert.equal(existsSync(stackDir), false, 'nothing created, nothing started');
    }
  });
});
