/**
 * EMQX 5.8.6 reads `EMQX_*` environment values as HOCON (hocon_tconf, emqx/hocon
 * 0.43.4 as pinned in EMQX's rebar.config): `#` and `//` start a comment, spaces
 * are dropped, `true`/`12` change type. emqx-users (broker/emqx/bootstrap.ts)
 * refuses such a value for the secrets docker-compose.yml hands to EMQX, with
 * the variable named and the value never echoed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { emqxEnvProblems, hoconEnvValueProblem } from '../../broker/emqx/hocon-env.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('EMQX_* values EMQX would misread (hocon-env.ts)', () => {
  test('values with #, //, spaces, quotes, $ or = are refused, naming the character', () => {
    for (const [value, names] of [['abc#def', '"#"'], ['pa//ss', '"/"'], ['p@ss word', 'a space'], ['say"hi"', '"\\""'], ["it's", '"\'"'], ['a${b}', '"$"'], ['k=v', '"="'], ['back\\slash', '"\\\\"']] as const) {
      const problem = hoconEnvValueProblem(value);
      assert.ok(problem !== undefined, `refused: ${value}`);
      assert.ok(problem.includes(names), `${value}: ${problem} names ${names}`);
      assert.ok(!problem.includes(value), 'the secret is not echoed');
    }
  });

  test('values HOCON would read as another type are refused; plain tokens pass', () => {
    for (const value of ['true', 'null', '12345', '1.5', 'OFF', '']) assert.ok(hoconEnvValueProblem(value) !== undefined, value);
    for (const value of ['sensorflow-dev-password', 'a1b2c3d4e5f6', 'Secret_v2.0~x', '0123abcdef']) assert.equal(hoconEnvValueProblem(value), undefined, value);
  });

  test('each variable is named, with what is expected', () => {
    const problems = emqxEnvProblems({ EMQX_DASHBOARD_PASSWORD: 'abc#def', EMQX_NODE_COOKIE: 'fine-cookie', OTHER: 'x#y' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^EMQX_DASHBOARD_PASSWORD: it holds "#".*expected letters, digits/);
  });

  test('emqx-users exits 2 with one line naming the variable, before writing anything', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-emqx-users-'));
    try {
      const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'broker', 'emqx', 'bootstrap.ts')], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, MQTT_MONITOR_PASSWORD: 'm-secret-1', MQTT_GATEWAY_PASSWORD: 'g-secret-1', EMQX_NODE_COOKIE: 'cookie with space', EMQX_BOOTSTRAP_FILE: join(dir, 'users.json') },
      });
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /^emqx-users: invalid configuration: EMQX_NODE_COOKIE: it holds a space/);
      assert.ok(!result.stderr.includes('cookie with space'));
      assert.equal(spawnSync('test', ['-e', join(dir, 'users.json')]).status, 1, 'nothing written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
