/**
 * broker/emqx/acl.conf says what broker/dev/acl.ts does. EMQX cannot run here,
 * so its file authorizer is stood in for by the few lines of EMQX 5 it rests
 * on (emqx/emqx, apps/emqx_auth/src/emqx_authz/emqx_authz_rule.erl and
 * apps/emqx/src/emqx_topic.erl):
 * - rules are tried top to bottom; the first whose action, who and topic
 *   match decides; no match falls to `authorization.no_match = deny`;
 * - `${username}` in a topic is rendered with emqx_auth_utils:render_strict,
 *   which raises for a client without a user name; render_topic/2 catches it
 *   (logs `failed_to_render_topic_template` at debug) and that topic of the
 *   rule matches nothing (match_topics/3: `is_binary(TopicFilter) andalso …`);
 * - topic matching is emqx_topic:match: `+` one level, `#` the rest (or
 *   nothing), a subscription's own `+`/`#` match only the same wildcard, and
 *   `$` topics never match a leading wildcard (match_words/2), so
 *   `{deny, all}` (compiled to `#`, emqx_authz_rule:compile/1) never reaches
 *   `$SYS`;
 * - a shared subscription is checked by its real filter
 *   (emqx_channel:do_check_sub_authzs2, emqx_topic:get_shared_real_topic).
 * All at tag v5.8.6.
 * Every (user, action, topic) below must get the same answer from both.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { mayPublish, maySubscribe, type Identity } from '../../broker/dev/acl.ts';
import { loadConfig } from '../../ingestor/config.ts';

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

/** emqx_topic:get_shared_real_topic: `$share/{group}/{filter}` → `{filter}`. */
const realTopic = (topic: string): string => (topic.startsWith('$share/') ? topic.split('/').slice(2).join('/') : topic);

function emqxAllows(rules: readonly Rule[], username: string | undefined, action: 'publish' | 'subscribe', topic: string, noMatch: 'allow' | 'deny' = 'deny'): boolean {
  const name = (action === 'subscribe' ? realTopic(topic) : topic).split('/');
  for (const rule of rules) {
    if (rule.action !== 'all' && rule.action !== action) continue;
    if (rule.username !== undefined && rule.username !== username) continue;
    const hit = rule.topics.some((filter) => {
      // render_topic/2 fails for an undefined ${username}: this topic matches nothing.
      if (username === undefined && filter.includes('${username}')) return false;
      return emqxMatch(name, filter.replaceAll('${username}', username ?? '').split('/'));
    });
    if (hit) return rule.permission === 'allow';
  }
  return noMatch === 'allow'; // the stack's authorization.no_match = deny
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
  'spBv1.0/#', 'spBv1.0/+/NDATA/#', '$share/g/spBv1.0/+/DDATA/#', '$share/g/sensors/+/+/telemetry', 'industrial/#',
];
/** Everyone who is not the ingestor's user, a device's name included. */
const others = [...identities.filter((identity) => identity.role !== 'monitor').map((identity) => identity.username), 'dev-z'];
const SYS_TOPICS = ['$SYS/brokers/n/clients/dev-a/connected', '$SYS/brokers/n/stats/connections.count', '$SYS/brokers'];
const SYS_FILTERS = ['$SYS/#', '$SYS/brokers/+/clients/#', '$SYS/brokers/+/clients/+/connected', '$SYS/+/+/stats/#'];

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

  test('$SYS is closed to everyone but the ingestor by a rule of its own, not only by no_match = deny', () => {
    // emqx_topic:match_words/2: a $-topic never matches a leading wildcard,
    // so `{deny, all}` ("#") does not reach it. With no_match = allow, the
    // explicit `{deny, all, all, ["$SYS/#"]}` alone must still close it.
    for (const username of others) {
      for (const topic of SYS_TOPICS) assert.equal(emqxAllows(rules, username, 'publish', topic, 'allow'), false, `${username} publishes ${topic}`);
      for (const filter of SYS_FILTERS) assert.equal(emqxAllows(rules, username, 'subscribe', filter, 'allow'), false, `${username} subscribes ${filter}`);
    }
    for (const topic of SYS_TOPICS) assert.equal(emqxAllows(rules, 'monitor', 'publish', topic, 'allow'), false, `monitor publishes ${topic}`);
    assert.equal(emqxAllows(rules, 'monitor', 'subscribe', '$SYS/brokers/+/clients/+/connected', 'allow'), true);
    assert.equal(emqxAllows(rules, 'monitor', 'subscribe', '$SYS/#', 'allow'), false, 'monitor reads presence only');
    // The stand-in's matching, as match_words/2: "#" never reaches $SYS.
    assert.equal(emqxMatch(['$SYS', 'brokers'], ['#']), false);
    assert.equal(emqxMatch(['$SYS', 'brokers'], ['+', 'brokers']), false);
    assert.equal(emqxMatch(['$SYS', 'brokers'], ['$SYS', '#']), true);
  });

  test('the ingestor\'s user may subscribe to every filter the ingestor asks for with SPARKPLUG=true and PRESENCE_EMQX=true, shared or not', () => {
    const noFiles = (): Buffer => { throw new Error('no file read here'); };
    for (const env of [{ SPARKPLUG: 'true', PRESENCE_EMQX: 'true' }, { SPARKPLUG: 'true', PRESENCE_EMQX: 'true', MQTT_SHARED_GROUP: 'ingestors' }]) {
      const { topics } = loadConfig(env, noFiles).mqtt;
      assert.ok(topics.some((topic) => topic.includes('spBv1.0/')), `Sparkplug filters in ${topics.join(', ')}`);
      for (const filter of topics) {
        assert.equal(emqxAllows(rules, 'monitor', 'subscribe', filter), true, `EMQX allows monitor ${filter} (${JSON.stringify(env)})`);
        assert.equal(maySubscribe({ username: 'monitor', role: 'monitor' }, filter), true, `the dev broker allows monitor ${filter}`);
      }
    }
  });

  test('a client without a user name is allowed nothing (${username} cannot be rendered)', () => {
    for (const topic of PUBLISH) assert.equal(emqxAllows(rules, undefined, 'publish', topic), false, topic);
    for (const filter of SUBSCRIBE) assert.equal(emqxAllows(rules, undefined, 'subscribe', filter), false, filter);
  });
});
