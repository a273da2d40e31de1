import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { churnDurationMs, nextChurn } from '../../simulator/churn.ts';
import { parseOptions, UsageError } from '../../simulator/options.ts';
import { readingMessages } from '../../simulator/payloads.ts';
import { makeProfiles, readingAt, seededRandom } from '../../simulator/readings.ts';
import { parseDurationMs, parseScenario, ScenarioError, targets } from '../../simulator/scenario.ts';

const T0 = Date.UTC(2026, 10, 22, 12);

describe('simulator options', () => {
  test('defaults, then environment, then flags', () => {
    const defaults = parseOptions([], {});
    assert.equal(defaults.url, 'mqtt://localhost:1883');
    assert.equal(defaults.devices, 10);
    assert.equal(defaults.format, 'json');
    assert.equal(defaults.rate, undefined);
    assert.equal(defaults.churnPerHour, 0.5);
    const fromEnv = parseOptions(['--devices', '7'], { SIM_DEVICES: '3', SIM_LOCATIONS: '2', MQTT_URL: 'mqtt://b:1883' });
    assert.deepEqual([fromEnv.devices, fromEnv.locations, fromEnv.url], [7, 2, 'mqtt://b:1883']);
  });

  for (const [argv, message] of [
    [['--devices', '0'], /^--devices "0": expected a whole number from 1 to 100000$/],
    [['--format', 'xml'], /^--format "xml": expected one of json, value, lp$/],
    [['--churn-per-hour', 'lots'], /^--churn-per-hour "lots": expected a number from 0 to 3600$/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--url', 'broker:1883'], /^--url "broker:1883": expected a URL starting with mqtt:\/\//],
  ] as const) {
    test(`${argv.join(' ')} is a usage error`, () => {
      assert.throws(() => parseOptions(argv, {}), (error: unknown) => error instanceof UsageError && message.test(error.message));
    });
  }
});

describe('simulator options from the environment', () => {
  test('a bad variable is named as the variable, with the same rule as its flag', () => {
    for (const [env, message] of [
      [{ SIM_DEVICES: 'many' }, 'SIM_DEVICES="many": expected a whole number from 1 to 100000'],
      [{ SIM_FORMAT: 'xml' }, 'SIM_FORMAT="xml": expected one of json, value, lp'],
      [{ SIM_CHURN_PER_HOUR: 'lots' }, 'SIM_CHURN_PER_HOUR="lots": expected a number from 0 to 3600'],
    ] as const) {
      assert.throws(() => parseOptions([], env), (error: unknown) => error instanceof UsageError && error.message === message, message);
    }
    const fromFile = parseOptions([], { MQTT_PASSWORD_FILE: '/dev/null' });
    assert.equal(fromFile.password, '', 'secrets may come as NAME_FILE, like the ingestor\'s');
  });
});

describe('readings and churn are reproducible from the seed', () => {
  test('same seed, same fleet and the same readings; another seed, another fleet', () => {
    const a = makeProfiles(5, 2, 42, T0);
    assert.deepEqual(makeProfiles(5, 2, 42, T0), a);
    assert.notDeepEqual(makeProfiles(5, 2, 43, T0), a);
    const ra = seededRandom(7);
    const rb = seededRandom(7);
    assert.deepEqual(a.map((p) => readingAt(p, T0, ra)), a.map((p) => readingAt(p, T0, rb)));
  });

  test('readings look like a sensor: a daily cycle, a draining battery, values in range', () => {
    const [profile] = makeProfiles(1, 1, 1, T0);
    const random = seededRandom(1);
    const at = (hour: number): number => readingAt(profile!, Date.UTC(2026, 10, 23, hour), random).temperature;
    assert.ok(at(16) - at(4) > 5, 'warmer in the afternoon than before dawn');
    const later = readingAt(profile!, T0 + 24 * 3_600_000, random);
    assert.ok(later.battery < 100 && later.battery > 90, String(later.battery));
    assert.ok(later.humidity >= 0 && later.humidity <= 100);
    assert.ok(later.rssi < -30 && later.rssi > -100);
  });

  test('churn: about perHour events per device-hour, each kind occurring, the same sequence for the same seed', () => {
    const run = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 36_000 }, () => nextChurn(random, 10, 1000));
    };
    const events = run(9).filter((e) => e !== undefined);
    assert.ok(events.length > 60 && events.length < 140, `${events.length} events in 10 device-hours at 10/h`);
    assert.deepEqual(new Set(events), new Set(['drop', 'restart', 'stuck', 'spike', 'out_of_range', 'silent']));
    assert.deepEqual(run(9), run(9));
    assert.equal(nextChurn(seededRandom(1), 0, 1000), undefined, '0 turns churn off');
    const duration = churnDurationMs(seededRandom(3));
    assert.ok(duration >= 30_000 && duration <= 300_000);
  });
});

describe('payload formats', () => {
  const [profile] = makeProfiles(1, 1, 1, T0);
  const reading = { temperature: 21.5, humidity: 40, battery: 99, rssi: -60, ts: T0 };
  test('json, value and line protocol', () => {
    assert.deepEqual(readingMessages(profile!, reading, 'json'), [{ topic: 'sensors/site-1/dev-001/telemetry', payload: JSON.stringify(reading) }]);
    assert.deepEqual(readingMessages(profile!, reading, 'value').map((m) => `${m.topic} ${m.payload}`), [
      'sensors/site-1/dev-001/temperature 21.5', 'sensors/site-1/dev-001/humidity 40', 'sensors/site-1/dev-001/battery 99', 'sensors/site-1/dev-001/rssi -60',
    ]);
    assert.deepEqual(readingMessages(profile!, reading, 'lp'), [{ topic: 'sensors/site-1/dev-001/telemetry', payload: `telemetry,device=dev-001,location=site-1 temperature=21.5,humidity=40,battery=99,rssi=-60 ${T0}` }]);
  });
});

describe('scenarios', () => {
  test('durations', () => {
    assert.deepEqual(['90', '90s', '15m', '2h', '500ms', 3, 'soon'].map(parseDurationMs), [90_000, 90_000, 900_000, 7_200_000, 500, 3000, undefined]);
  });

  test('every shipped scenario parses and names what it is for', () => {
    const dir = join(import.meta.dirname, '..', '..', 'simulator', 'scenarios');
    const files = readdirSync(dir);
    assert.deepEqual(files.sort(), ['battery-low.yaml', 'malformed-burst.yaml', 'offline-1h.yaml', 'offline-5m.yaml', 'overheating-site.yaml', 'silent-device.yaml']);
    const fleet = makeProfiles(20, 3, 1, T0);
    for (const file of files) {
      const scenario = parseScenario(file, readFileSync(join(dir, file), 'utf8'));
      assert.ok(scenario.name.length > 10 && scenario.name !== file, file);
      for (const event of scenario.events) assert.ok(targets(event, fleet).length > 0, `${file}: an event that matches no device of a 20-device, 3-location fleet`);
    }
  });

  test('events are sorted by time and select devices by id or location', () => {
    const scenario = parseScenario('s.yaml', 'events:\n  - { at: 2m, action: restart, location: site-2 }\n  - { at: 10s, action: offline, devices: [dev-001], for: 1m }\n');
    assert.deepEqual(scenario.events.map((e) => [e.atMs, e.action]), [[10_000, 'offline'], [120_000, 'restart']]);
    const fleet = makeProfiles(6, 3, 1, T0);
    assert.deepEqual(targets(scenario.events[1]!, fleet), ['dev-002', 'dev-005']);
  });

  for (const [content, message] of [
    ['events: []', /s\.yaml: expected "events"/],
    ['events:\n  - { at: soon, action: offline, for: 1m }', /events\[0\]: "at" must be a duration/],
    ['events:\n  - { at: 1s, action: explode }', /events\[0\]: "action" must be one of offline, restart, silent, stuck, set, malformed/],
    ['events:\n  - { at: 1s, action: offline }', /events\[0\]: offline needs "for"/],
    ['events:\n  - { at: 1s, action: set, field: temperature, for: 1m }', /events\[0\]: set needs "field" \(text\) and "value" \(a number\)/],
    ['events:\n  - { at: 1s, action: restart, when: now }', /events\[0\]: unknown key "when"/],
  ] as const) {
    test(`refuses: ${message.source}`, () => {
      assert.throws(() => parseScenario('s.yaml', content), (error: unknown) => error instanceof ScenarioError && message.test(error.message));
    });
  }
});
