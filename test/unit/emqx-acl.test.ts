/**
 * broker/emqx/acl.conf says what broker/dev/acl.ts does. EMQX cannot run here,
 * so its file authorizer is stood in for by the few lines of EMQX 5 it rests
 * on (emqx/emqx, apps/emqx_auth/src/emqx_authz/emqx_authz_rule.erl and
 * apps/emqx/src/emqx_topic.erl):
 * - rules are tried top to bottom; the first whose action, who and topic
 *   match decides; no match falls to `authorization.no_match = deny`;
 * - `${username}` in a topic is rendered with emqx_template:render_strict,
 *   which raises for a client without a user name; emqx_authz catches it
 *   (`unexpected_error_in_authorize`) and nothing is allowed;
 * - topic matching is emqx_topic:match: `+` one level, `#` the rest (or
 *   nothing), a subscription's own `+`/`#` match only the same wildcard, and
 *   `$` topics never match a leading wildcard.
 * Every (user, action, topic) below must get the same answer from both.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { mayPublish, maySubscribe, type Identity } from '../../broker/dev/acl.ts';

const ROOT = join(import.meta.dirname, '..', '..');

interface Rule {
  readonly permission: 'allow' | 'deny';
  readonly username: string | undefined;
  readonly action: 'publish' | 'subscribe' | 'all';
  readonly topics: readonly string[];
}

function parseAclConf(text: string): Rule[] {
  return text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('%%')).map((line) => {
    if (line === '{deny, all}.' || line === '{allow, all}.') return { permission: line.slice(1, 6).replace(',', '') as 'allow' | 'deny', username: undefined, action: 'all', topics: ['#'] };
    const match = /^\{(allow|deny), (?:all|\{username, "([^"]+)"\}), (publish|subscribe|all), \[(.*)\]\}\.$/.exec(line);
    assert.ok(match, `a rule this stand-in reads: ${line}`);
    return { permission: match[1] as 'allow' | 'deny', username: match[2], action: match[3] as Rule['action'], topics: [...match[4]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!) };
  });
}

/** emqx_topic:match(Name, Filter) on words. */
function emqxMatch(name: readonly string[], filter: readonly string[]): boolean {
  if (name[0]?.startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false;
  const words = (n: readonly string[], f: readonly string[]): boolean => {
    if (n.length === 0 && f.length === 0) return true;
    if (n.length > 0 && f.length > 0 && (n[0] === f[0] || f[0] === '+')) return words(n.slice(1), f.slice(1));
    return f.length === 1 && f[0] === '#';
  };
  return words(name, filter);
}

class RenderError extends Error {}

function emqxAllows(rules: readonly Rule[], username: string | undefined, action: 'publish' | 'subscribe', topic: string): boolean {
  try {
    for (const rule of rules) {
      if (rule.action !== 'all' && rule.action !== action) continue;
      if (rule.username !== undefined && rule.username !== username) continue;
      const hit = rule.topics.some((filter) => {
        const rendered = filter.replace(/\$\{username\}/g, () => {
          if (username === undefined) throw new RenderError('${username} is undefined');
          return username;
        });
        return emqxMatch(topic.split('/'), rendered.split('/'));
      });
      if (hit) return rule.permission === 'allow';
    }
    return false; // authorization.no_match = deny
  } catch (error) {
    if (error instanceof RenderError) return false;
    throw error;
  }
}

const rules = parseAclConf(readFileSync(join(ROOT, 'broker', 'emqx', 'acl.conf'), 'utf8'));
const identities: Identity[] = [
  { username: 'monitor', role: 'monitor' },
  { username: 'gateway', role: 'gateway' },
  { username: 'commander', role: 'commander' },
  { username: 'dev-a', role: 'device' },
];
const PUBLISH = [
  'sensors/lab/dev-a/telemetry', 'sensors/lab/dev-a/status', 'sensors/lab/dev-a/temperature', 'sensors/lab/dev-a',
  'sensors/lab/dev-b/telemetry', 'sensors/lab/dev-b/status', 'sensors/lab/dev-a/commands', 'sensors/lab/dev-b/commands/ota',
  'sensors/lab/monitor/telemetry', 'sensors/lab/gateway/telemetry', 'sensors/lab/commander/telemetry',
  'sensors/dev-a/telemetry', 'sensors/lab', 'other/lab/dev-a/telemetry', 'dev-a/telemetry',
  '$SYS/brokers/n/clients/dev-a/connected', '$SYS/brokers/n/clients/dev-b/disconnected',
];
const SUBSCRIBE = [
  '#', 'sensors/#', 'sensors/+/+/telemetry', 'sensors/lab/dev-a/telemetry', 'sensors/+/dev-a/#', 'sensors/+/dev-a/telemetry',
  'sensors/+/dev-a/commands', 'sensors/lab/dev-a/commands/#', 'sensors/+/dev-a/commands/#', 'sensors/+/dev-b/commands',
  'sensors/+/+/commands', 'sensors/+/+/commands/#', 'sensors/lab/+/commands/ota',
  '$SYS/#', '$SYS/brokers/+/clients/+/connected', '$SYS/brokers/+/clients/#', '$SYS/brokers/+/stats/#',
];

describe('broker/emqx/acl.conf and the development broker agree (EMQX 5 file authorizer, stood in)', () => {
  test('the stand-in reads every rule, and the file ends in deny all', () => {
    assert.ok(rules.length >= 10);
    assert.deepEqual(rules.at(-1), { permission: 'deny', username: undefined, action: 'all', topics: ['#'] });
  });

  for (const identity of identities) {
    test(`${identity.username} (${identity.role}): the same answer for every publish and subscribe`, () => {
      const differences: string[] = [];
      for (const topic of PUBLISH) {
        const [emqx, dev] = [emqxAllows(rules, identity.username, 'publish', topic), mayPublish(identity, topic)];
        if (emqx !== dev) differences.push(`publish ${topic}: EMQX ${emqx ? 'allows' : 'denies'}, dev broker ${dev ? 'allows' : 'denies'}`);
      }
      for (const filter of SUBSCRIBE) {
        const [emqx, dev] = [emqxAllows(rules, identity.username, 'subscribe', filter), maySubscribe(identity, filter)];
        if (emqx !== dev) differences.push(`subscribe ${filter}: EMQX ${emqx ? 'allows' : 'denies'}, dev broker ${dev ? 'allows' : 'denies'}`);
      }
      assert.deepEqual(differences, []);
    });
  }

  test('what a device may do is keyed on its user name: the same client id under another user gets nothing', () => {
    assert.equal(emqxAllows(rules, 'dev-a', 'publish', 'sensors/lab/dev-a/telemetry'), true);
    assert.equal(emqxAllows(rules, 'dev-b', 'publish', 'sensors/lab/dev-a/telemetry'), false);
    assert.doesNotMatch(readFileSync(join(ROOT, 'broker', 'emqx', 'acl.conf'), 'utf8').split('\n').filter((line) => !line.startsWith('%%')).join('\n'), /clientid/);
  });

  test('a client without a user name is allowed nothing (${username} cannot be rendered)', () => {
    for (const topic of PUBLISH) assert.equal(emqxAllows(rules, undefined, 'publish', topic), false, topic);
    for (const filter of SUBSCRIBE) assert.equal(emqxAllows(rules, undefined, 'subscribe', filter), false, filter);
  });
});
