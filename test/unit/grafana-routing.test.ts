/**
 * The shipped notification policies, routed as Grafana 12.0.2 routes them
 * (Alertmanager's `Route.Match`, empty labels dropped first: see
 * test/harness/alertmanager-routes.ts for the source of each rule). For each
 * kind of alert the rules raise, the exact list of receivers, in order: a
 * receiver listed twice is a message sent twice.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { FOLDER, ruleGroups } from '../../grafana/src/alert-rules.ts';
import { loadThresholds } from '../../grafana/src/thresholds.ts';
import { labelsAsRouted, parseMatcher, RoutingTree, type ProvisionedRoute } from '../harness/alertmanager-routes.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const policyTree = (file: string): RoutingTree => {
  const document = parse(readFileSync(join(ROOT, file), 'utf8')) as { policies: ProvisionedRoute[] };
  assert.equal(document.policies.length, 1, `${file}: one policy tree`);
  return new RoutingTree(document.policies[0]!);
};

const rules = ruleGroups(loadThresholds()).flatMap((group) => group.rules);
const ruleByTitle = (title: string) => {
  const rule = rules.find((candidate) => candidate.title === title);
  assert.ok(rule !== undefined, `no rule titled ${title}`);
  return rule;
};

/**
 * The labels an alert of `title` carries when it reaches the Alertmanager:
 * the rule's labels, alertname and grafana_folder (Grafana adds both), and
 * the query's series labels. `group: ''` is how the InfluxQL frame of a
 * device without a registry group looks before Grafana drops empty labels.
 */
const alertOf = (title: string, series: Record<string, string>): Record<string, string> => ({
  alertname: title,
  grafana_folder: FOLDER,
  ...ruleByTitle(title).labels,
  ...series,
});

describe('alertmanager routing evaluator (dispatch/route.go, pkg/labels/matcher.go at v0.25.0)', () => {
  const tree = new RoutingTree({
    receiver: 'root',
    group_by: ['alertname'],
    routes: [
      { receiver: 'a', object_matchers: [['severity', '=', 'critical']], continue: true, group_wait: '10s' },
      { receiver: 'b', object_matchers: [['team', '=~', 'ops|dev']], routes: [{ receiver: 'b-db', matchers: ['service="db"'] }] },
      { receiver: 'c', object_matchers: [['team', '!=', 'x']] },
      { receiver: 'never', object_matchers: [['team', '=', 'ops']] },
    ],
  });

  test('the first matching child stops the search unless it says continue', () => {
    assert.deepEqual(tree.receivers({ severity: 'critical', team: 'ops' }), ['a', 'b'], 'a continues, b stops before c and never');
    assert.deepEqual(tree.receivers({ team: 'ops' }), ['b'], 'never is after b: unreachable');
  });

  test('the parent is the match only when no child matched', () => {
    assert.deepEqual(tree.receivers({ team: 'x' }), ['root']);
    assert.deepEqual(tree.receivers({ team: 'dev', service: 'db' }), ['b-db'], 'the deeper route, not b');
  });

  test('a missing label matches as the empty string: != holds, a regex of .+ or a value does not', () => {
    assert.deepEqual(tree.receivers({}), ['c'], '!= x holds for an alert without team');
    const empty = new RoutingTree({ receiver: 'root', routes: [{ receiver: 'none', object_matchers: [['group', '=', '']] }, { receiver: 'any', object_matchers: [['group', '=~', '.+']] }] });
    assert.deepEqual(empty.receivers({}), ['none']);
    assert.deepEqual(empty.receivers({ group: 'g' }), ['any']);
  });

  test('regexes are anchored: ops matches ops only, not devops or ops2', () => {
    assert.deepEqual(tree.receivers({ team: 'devops' }), ['c']);
    assert.deepEqual(tree.receivers({ team: 'ops2' }), ['c']);
  });

  test('empty labels are dropped before routing (PutAlerts): group "" is no group', () => {
    assert.deepEqual(labelsAsRouted({ device: 'd1', group: '', location: '' }), { device: 'd1' });
    const byGroup = new RoutingTree({ receiver: 'root', routes: [{ receiver: 'no-group', object_matchers: [['group', '!~', '.+']] }] });
    assert.deepEqual(byGroup.receivers({ group: '' }), ['no-group']);
  });

  test('children inherit receiver, group_by and timings from their parent and override only what they set', () => {
    const [critical] = tree.route({ severity: 'critical', team: 'x' });
    assert.deepEqual(critical, { receiver: 'a', groupBy: ['alertname'], groupWait: '10s', groupInterval: '5m', repeatInterval: '4h', path: 'root.routes[0]' });
    const inherit = new RoutingTree({ receiver: 'root', group_by: ['device'], repeat_interval: '1h', routes: [{ object_matchers: [['x', '=', '1']] }] });
    assert.deepEqual(inherit.route({ x: '1' }), [{ receiver: 'root', groupBy: ['device'], groupWait: '30s', groupInterval: '5m', repeatInterval: '1h', path: 'root.routes[0]' }]);
  });

  test('matcher strings, unknown keys and a root with matchers', () => {
    assert.deepEqual(parseMatcher('severity="critical"'), { name: 'severity', op: '=', value: 'critical' });
    assert.deepEqual(parseMatcher('group =~ gate.*'), { name: 'group', op: '=~', value: 'gate.*' });
    assert.throws(() => new RoutingTree({ receiver: 'r', routes: [{ receiver: 'x', matcher: ['a=b'] } as ProvisionedRoute] }), /unknown key matcher/);
    assert.throws(() => new RoutingTree({ receiver: 'r', object_matchers: [['a', '=', 'b']] }), /root route must match every alert/);
  });
});

describe('grafana/direct/policies.yaml: each kind of alert reaches exactly the bots docs/grafana.md promises, once each', () => {
  const tree = policyTree('grafana/direct/policies.yaml');
  const DING = 'sensorflow-dingtalk';
  const FEISHU = 'sensorflow-feishu';
  const BOTH = 'sensorflow-all-bots';
  const cases: [string, Record<string, string>, string[]][] = [
    ['warning, group gateways → Feishu', alertOf('Device offline', { device: 'gw-1', location: 'yard', group: 'gateways' }), [FEISHU]],
    ['warning, another group → DingTalk', alertOf('Device offline', { device: 'd-1', location: 'hall', group: 'production' }), [DING]],
    ['warning, no group (empty label dropped) → DingTalk', alertOf('Device silent', { device: 'd-2', location: 'hall', group: '' }), [DING]],
    ['warning, no group label at all → DingTalk', alertOf('Battery low', { device: 'd-3', location: 'hall' }), [DING]],
    ['warning, pipeline → DingTalk', alertOf('Write retries surging', { instance: 'ingestor-1' }), [DING]],
    ['critical, group gateways → both bots once', alertOf('Device offline for long', { device: 'gw-1', location: 'yard', group: 'gateways' }), [BOTH]],
    ['critical, another group → both bots once', alertOf('Device offline for long', { device: 'd-1', location: 'hall', group: 'production' }), [BOTH]],
    ['critical, device without a group → both bots once', alertOf('Device offline for long', { device: 'd-2', location: 'hall', group: '' }), [BOTH]],
    ['critical, pipeline (instance) → both bots once', alertOf('Ingestor not reporting', { instance: 'ingestor-1' }), [BOTH]],
    ['critical, pipeline without labels (NoData) → both bots once', alertOf('No telemetry at all', {}), [BOTH]],
    ['critical, liveness stalled → both bots once', alertOf('Device liveness stalled', { instance: 'ingestor-2' }), [BOTH]],
  ];
  for (const [name, labels, expected] of cases) {
    test(name, () => assert.deepEqual(tree.receivers(labels), expected, JSON.stringify(labelsAsRouted(labels))));
  }

  test('the all-bots contact point holds exactly the DingTalk and the Feishu integration of the other two', () => {
    const document = parse(readFileSync(join(ROOT, 'grafana/direct/contact-points.yaml'), 'utf8')) as {
      contactPoints: { name: string; receivers: { uid: string; type: string; settings: Record<string, unknown> }[] }[];
    };
    const byName = new Map(document.contactPoints.map((point) => [point.name, point.receivers] as const));
    const both = byName.get(BOTH);
    assert.ok(both !== undefined, `${BOTH} exists`);
    assert.deepEqual(both.map((receiver) => receiver.type), ['dingding', 'webhook']);
    assert.deepEqual(both[0]!.settings, byName.get(DING)![0]!.settings, 'same DingTalk settings');
    assert.deepEqual(both[1]!.settings, byName.get(FEISHU)![0]!.settings, 'same Feishu settings');
    const uids = document.contactPoints.flatMap((point) => point.receivers.map((receiver) => receiver.uid));
    assert.equal(new Set(uids).size, uids.length, 'integration uids are unique');
  });

  test('criticals go out after 10 s and repeat hourly; warnings wait 30 s and repeat every 4 h; one group per rule, device and instance', () => {
    const [critical] = tree.route(alertOf('Ingestor not reporting', { instance: 'ingestor-1' }));
    assert.deepEqual({ ...critical, path: undefined }, { receiver: BOTH, groupBy: ['alertname', 'device', 'instance'], groupWait: '10s', groupInterval: '5m', repeatInterval: '1h', path: undefined });
    const [warning] = tree.route(alertOf('Device offline', { device: 'gw-1', location: 'yard', group: 'gateways' }));
    assert.deepEqual({ ...warning, path: undefined }, { receiver: FEISHU, groupBy: ['alertname', 'device', 'instance'], groupWait: '30s', groupInterval: '5m', repeatInterval: '4h', path: undefined });
  });
});

describe('grafana/provisioning/alerting/policies.yaml (the notifier): every alert reaches the notifier once', () => {
  const tree = policyTree('grafana/provisioning/alerting/policies.yaml');
  for (const rule of rules) {
    test(`${rule.title} (${rule.labels.severity ?? 'no severity'})`, () => {
      const targets = tree.route(alertOf(rule.title, { device: 'd-1', location: 'hall', group: '', instance: 'i-1' }));
      assert.deepEqual(targets.map((target) => target.receiver), ['sensorflow-notifier']);
      assert.equal(targets[0]!.groupWait, rule.labels.severity === 'critical' ? '10s' : '30s');
      assert.equal(targets[0]!.repeatInterval, rule.labels.severity === 'critical' ? '1h' : '4h');
    });
  }
});
