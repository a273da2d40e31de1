/** Load mode's fleet in trouble on cue (simulator/trouble.ts, the flags and variables). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseOptions, UsageError } from '../../simulator/options.ts';
import { troubleOf, troublePlan } from '../../simulator/trouble.ts';

describe('simulator: devices in trouble on cue', () => {
  test('100,000 devices, 1 % offline and 1 % silent: the first 1,000 offline, the next 1,000 silent, the rest talk', () => {
    const plan = troublePlan(100_000, 0.01, 0.01);
    assert.deepEqual(plan, { offline: 1000, silent: 1000 });
    assert.deepEqual([0, 999, 1000, 1999, 2000, 99_999].map((i) => troubleOf(i, plan)), ['offline', 'offline', 'silent', 'silent', undefined, undefined]);
    assert.deepEqual(troublePlan(10, 0.7, 0.7), { offline: 7, silent: 3 }, 'never more than the fleet');
  });

  test('flags win over variables; defaults none; a share outside 0–1 or both above 1 refused by name', () => {
    const defaults = parseOptions([], {});
    assert.deepEqual([defaults.offlineShare, defaults.silentShare, defaults.troubleAtS], [0, 0, 0]);
    const set = parseOptions(['--offline-share', '0.02', '--trouble-at', '30', '--devices', '100000', '--rate', '2000'], { SIM_OFFLINE_SHARE: '0.5', SIM_SILENT_SHARE: '0.01' });
    assert.deepEqual([set.offlineShare, set.silentShare, set.troubleAtS, set.devices, set.rate], [0.02, 0.01, 30, 100_000, 2000]);
    assert.throws(() => parseOptions(['--silent-share', '2'], {}), (e: unknown) => e instanceof UsageError && /silent-share.*"2".*expected a number from 0 to 1/.test(e.message));
    assert.throws(() => parseOptions(['--offline-share', '0.6', '--silent-share', '0.6'], {}), (e: unknown) => e instanceof UsageError && /--offline-share \(0\.6\) \+ --silent-share \(0\.6\): expected at most 1 together/.test(e.message));
  });
});
