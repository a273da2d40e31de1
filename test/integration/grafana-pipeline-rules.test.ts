/**
 * "Ingestor not reporting" evaluated minute by minute, as Grafana 12.0.2
 * evaluates it (test/harness/grafana-eval.ts: one instance per series; a
 * series missing from a result that has others is resolved two evaluations
 * later, 12.0.2 pkg/services/ngalert/state/manager.go
 * `deleteStaleStatesFromCache` / `stateIsStale`), on ingestor_stats written to
 * a real InfluxDB 1.x.
 *
 * Issue 23 finding 11: with a one-hour range, an instance that died while
 * others kept reporting left the query's result an hour later and was
 * resolved ("resolved" posted to the bots) while still down. The rule must
 * keep firing for a dead instance until it is forgotten.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ruleGroups, type AlertRule } from '../../grafana/src/alert-rules.ts';
import { loadThresholds } from '../../grafana/src/thresholds.ts';
import { evaluateRule, labelKey, simulate } from '../harness/grafana-eval.ts';
import { startInflux1, type Influx1 } from '../harness/services.ts';

const MINUTE = 60_000;
const thresholds = loadThresholds();
const rules = ruleGroups(thresholds).flatMap((group) => group.rules);
const rule = (uid: string): AlertRule => rules.find((candidate) => candidate.uid === uid) ?? assert.fail(`no rule ${uid}`);

describe('"Ingestor not reporting" keeps firing for a dead instance while others report', () => {
  let influx: Influx1;
  // Whole minutes, so every evaluation sees whole one-minute buckets as Grafana's would at a scheduler tick.
  const now = Math.floor(Date.now() / MINUTE) * MINUTE;
  const start = now - 5 * 60 * MINUTE;
  /** ingestor-dead reported from `start` and stopped at `diedAt`; ingestor-live reports all along (every 10 s, STATS_INTERVAL_MS's default). */
  const diedAt = start + 60 * MINUTE;
  const dead = labelKey({ instance: 'ingestor-dead' });
  const live = labelKey({ instance: 'ingestor-live' });

  before(async () => {
    influx = await startInflux1();
    await influx.query('CREATE DATABASE pipeline');
    const lines: string[] = [];
    for (let t = start, i = 0; t <= now; t += 10_000, i += 1) {
      lines.push(`ingestor_stats,instance=ingestor-live messages_in=${i * 10}i,points_written=${i * 10}i ${t}`);
      if (t < diedAt) lines.push(`ingestor_stats,instance=ingestor-dead messages_in=${i * 7}i,points_written=${i * 7}i ${t}`);
    }
    const response = await fetch(`${influx.url}/write?db=pipeline&precision=ms`, { method: 'POST', body: lines.join('\n') });
    assert.equal(response.status, 204, await response.text());
  });
  after(async () => {
    await influx?.stop();
  });

  test('fires within stats_silent_after of the death and at every minute after, for 4 hours, far past the old one-hour range; the live one never', async () => {
    const times = Array.from({ length: (now - start) / MINUTE - 29 }, (_, index) => start + (30 + index) * MINUTE);
    const { timeline } = await simulate(rule('sensorflow-ingestor-silent'), influx.url, 'pipeline', times);
    const silentAfterMs = thresholds.pipeline.statsSilentAfter.seconds * 1000;
    const firstFiring = timeline.find((entry) => entry.states.get(dead) === 'Alerting')?.at;
    assert.ok(firstFiring !== undefined, 'the dead instance fired');
    assert.ok(firstFiring > diedAt && firstFiring <= diedAt + silentAfterMs, `fired ${(firstFiring - diedAt) / MINUTE} min after it died (stats_silent_after ${thresholds.pipeline.statsSilentAfter.text})`);
    for (const entry of timeline) {
      const minutesAfterDeath = (entry.at - diedAt) / MINUTE;
      if (entry.at < diedAt) assert.equal(entry.states.get(dead), undefined, `Normal while reporting (${minutesAfterDeath} min)`);
      if (entry.at >= firstFiring) assert.equal(entry.states.get(dead), 'Alerting', `still firing ${minutesAfterDeath} min after it died`);
      assert.equal(entry.states.get(live), undefined, `the live instance at ${minutesAfterDeath} min`);
    }
    assert.ok(timeline.at(-1)!.at - diedAt >= 4 * 60 * MINUTE, 'watched for 4 hours after the death');
  });

  test('the rule evaluates to one value per instance: the live one reporting, the dead one at 0', async () => {
    const evaluation = await evaluateRule(rule('sensorflow-ingestor-silent'), influx.url, 'pipeline', now);
    assert.deepEqual([...evaluation.instances.keys()].sort(), [dead, live]);
    assert.equal(evaluation.instances.get(dead)!.value, 1, 'condition holds: not reporting');
    assert.equal(evaluation.instances.get(live)!.value, 0);
  });

  test('past instance_remembered_for after its last stats, or once an operator deletes its stats, the instance leaves the result (resolved two evaluations later)', async () => {
    const remembered = thresholds.pipeline.instanceRememberedFor.seconds * 1000;
    const later = await evaluateRule(rule('sensorflow-ingestor-silent'), influx.url, 'pipeline', diedAt + remembered + MINUTE);
    assert.equal(later.instances.has(dead), false, `gone ${thresholds.pipeline.instanceRememberedFor.text} after its last stats`);
    // Forgetting, as docs/grafana.md says (InfluxDB 1.x: DROP SERIES).
    await influx.query(`DROP SERIES FROM "ingestor_stats" WHERE "instance" = 'ingestor-dead'`, 'pipeline');
    const forgotten = await evaluateRule(rule('sensorflow-ingestor-silent'), influx.url, 'pipeline', now);
    assert.deepEqual([...forgotten.instances.keys()], [live]);
    assert.equal(forgotten.noData, false, 'the live instance still answers: a missing series, not NoData');
  });
});
