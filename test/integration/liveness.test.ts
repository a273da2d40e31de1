/**
 * Device liveness (`device_state`, docs/liveness.md) through the real
 * pipeline: real Mosquitto or the development broker (EMQX events), the real
 * ingestor process, InfluxDB 1.x. Ticks every second (DEVICE_STATE_INTERVAL_S=1).
 *
 * - a telemetry-only device: state unknown, location from its topic, group
 *   from the registry, silent_s growing; a status-topic device that went
 *   offline 90 minutes ago (its payload's time): offline_s ≈ 5400 at the
 *   first tick; `telemetry` and `device_presence` are still written;
 * - a restart keeps every duration (since and last_seen unchanged, silent_s
 *   goes on growing);
 * - the forget rule (DEVICE_FORGET_AFTER) removes a silent device visibly (log line, a last point
 *   `state="forgotten"`, `devices_forgotten`, gone from the directory file),
 *   and nothing else forgets a device;
 * - catching up: ticks are skipped while most messages arrive late, and
 *   written again once they arrive on time;
 * - a point without silent_s (known only by a timeless retained status):
 *   on device_state InfluxDB 1.6 gives the silence arithmetic null (nil in
 *   Grafana: NoData for that instance, kept firing by KeepLast: issue 23,
 *   finding 10); device_trouble always carries silent_s, so the provisioned
 *   rules never see nil;
 * - two ingestors in one shared group agree on every device's presence;
 *   merged with the rules' own grouping (device, location, group) each
 *   device is one series, and min(silent_s) across them is the newest
 *   message's;
 * - clients of the stack itself (the image's health check, a monitor login,
 *   a gateway login that speaks for no device) never become devices, through
 *   the development broker's EMQX events; real devices still do.
 *
 * Every step waits for what it depends on (points, log lines), bounded.
 * Spawns processes: run under the shared lock.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { REPO_ROOT, startIngestor, waitUntilSubscribed, type Ingestor } from '../harness/ingestor.ts';
import { offlineSecondsQuery, PLACE_TAGS, silenceOverLimitQuery } from '../../grafana/src/device-state.ts';
import { ruleGroups } from '../../grafana/src/alert-rules.ts';
import { loadThresholds } from '../../grafana/src/thresholds.ts';
import { evaluateRule, isFiring, isNoData } from '../harness/grafana-eval.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher } from '../harness/publisher.ts';
import { DEV_BROKER_GATEWAY, DEV_BROKER_MONITOR, startDevBroker, startInflux1, startMosquitto, type Influx1 } from '../harness/services.ts';

interface StateRow {
  readonly time: number;
  readonly device: string;
  readonly location: string | null;
  readonly group: string | null;
  readonly instance: string;
  readonly state: string;
  readonly online: number;
  readonly offline_s: number;
  readonly silent_s: number;
  readonly last_seen: number;
  readonly since: number;
  readonly source: string;
}

const MINUTE = 60_000;
const TICKS = { DEVICE_STATE_INTERVAL_S: '1', FLUSH_INTERVAL_MS: '100' };
/**
 * A duration measured at a tick may read one interval short of the wall
 * clock: the tick's time is floored to the interval, so a tick soon after
 * an event can carry a time up to an interval before it (and before the
 * `Date.now()` the test took just ahead of publishing).
 */
const TICK_S = Number(TICKS.DEVICE_STATE_INTERVAL_S);

async function stateRows(influx: Influx1, db: string, where = ''): Promise<StateRow[]> {
  return (await influx.query(`SELECT * FROM device_state ${where}`, db)) as unknown as StateRow[];
}

/** The newest device_state row of each device (of one instance when given). */
async function newestStates(influx: Influx1, db: string, instance?: string): Promise<Map<string, StateRow>> {
  const newest = new Map<string, StateRow>();
  for (const row of await stateRows(influx, db, instance === undefined ? '' : `WHERE "instance" = '${instance}'`)) {
    const known = newest.get(row.device);
    if (known === undefined || row.time >= known.time) newest.set(row.device, row);
  }
  return newest;
}

/** Waits until `check` holds for the newest states; returns them. */
async function waitForStates(influx: Influx1, db: string, what: string, check: (states: Map<string, StateRow>) => boolean, instance?: string): Promise<Map<string, StateRow>> {
  return waitFor(what, async () => {
    const states = await newestStates(influx, db, instance);
    return check(states) ? states : undefined;
  }, 30_000, 200);
}

describe('device_state on Mosquitto', () => {
  let influx: Influx1;
  let dir: string;
  before(async () => {
    influx = await startInflux1();
    dir = mkdtempSync(join(tmpdir(), 'sensorflow-liveness-'));
    writeFileSync(join(dir, 'devices.yaml'), 'devices:\n  tel-1: { group: g-north }\n');
  });
  after(async () => {
    await influx.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('unknown, offline for 90 minutes, a restart keeps every duration, forget removes only the silent device', async () => {
    const broker = await startMosquitto();
    await influx.query('CREATE DATABASE a');
    const directoryFile = join(dir, 'directory-a.json');
    const env = {
      MQTT_URL: broker.url, MQTT_CLIENT_ID: 'liveness-a', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'a',
      DEVICES_FILE: join(dir, 'devices.yaml'), DEVICE_DIRECTORY_FILE: directoryFile, DEVICE_FORGET_AFTER: '2h', DEVICE_STATE_MAX_LAG_S: '86400', ...TICKS,
    };
    let ingestor: Ingestor = startIngestor(env, 'liveness-a');
    const publisher = await connectPublisher(broker.url);
    try {
      await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status']);
      const wentOfflineMs = Date.now() - 90 * MINUTE;
      // A device whose last will says when it went offline: 90 minutes ago.
      await publisher.publishAsync('sensors/roof/off-1/status', JSON.stringify({ online: false, ts: wentOfflineMs }), { qos: 1, retain: true });
      // A telemetry-only device: no payload time, so its receive time counts.
      await publisher.publishAsync('sensors/hall/tel-1/telemetry', JSON.stringify({ temperature: 20 }), { qos: 1 });
      // A device whose only message is three hours old: forgotten at the first tick (DEVICE_FORGET_AFTER=2h).
      const oldMs = Date.now() - 180 * MINUTE;
      await publisher.publishAsync('sensors/cellar/old-1/telemetry', JSON.stringify({ temperature: 5, ts: oldMs }), { qos: 1 });

      const first = await waitForStates(influx, 'a', 'off-1 and tel-1 in device_state', (states) => states.has('off-1') && states.has('tel-1'));
      const off = first.get('off-1')!;
      assert.deepEqual({ ...off, time: 0, offline_s: 0 }, {
        time: 0, device: 'off-1', location: 'roof', group: null, instance: 'liveness-a', state: 'offline', online: 0, offline_s: 0,
        silent_s: off.silent_s, last_seen: wentOfflineMs, since: wentOfflineMs, source: 'lwt',
      });
      // Measured from the event's own time, at the first tick that saw it.
      assert.ok(off.offline_s >= 5400 - TICK_S && off.offline_s <= 5400 + 30, `offline_s ${off.offline_s}`);
      assert.equal(off.offline_s, Math.floor((off.time - wentOfflineMs) / 1000));
      const tel = first.get('tel-1')!;
      assert.equal(tel.state, 'unknown');
      assert.equal(tel.online, -1);
      assert.equal(tel.offline_s, 0);
      assert.equal(tel.location, 'hall');
      assert.equal(tel.group, 'g-north');
      assert.equal(tel.source, 'none');
      assert.equal(tel.since, tel.last_seen, 'unknown: since is when it was first seen');
      // Clamped at 0: a tick whose floored time (TICK_S) comes just before the message's arrival reads 0, not -1.
      assert.equal(tel.silent_s, Math.max(0, Math.floor((tel.time - tel.last_seen) / 1000)));
      // The device with a two-minute-old message: one last point, state forgotten.
      const forgottenRows = await waitFor('old-1 forgotten', async () => {
        const rows = await stateRows(influx, 'a', "WHERE \"device\" = 'old-1'");
        return rows.length > 0 ? rows : undefined;
      });
      assert.deepEqual(forgottenRows.map((row) => [row.state, row.last_seen, row.location]), [['forgotten', oldMs, 'cellar']]);
      assert.ok(forgottenRows[0]!.silent_s >= 3 * 3600 - TICK_S, `silent_s ${forgottenRows[0]!.silent_s}`);
      const forgetLine = await ingestor.waitForLog('the forget log line', (line) => line.device === 'old-1' && typeof line.msg === 'string' && line.msg.startsWith('forgetting device old-1'));
      assert.equal(forgetLine.level, 30, 'info');
      assert.ok((forgetLine.silentS as number) >= 3 * 3600 - TICK_S, `silentS ${String(forgetLine.silentS)}`);
      // 3 h, or a second short of it when the tick's floored time came first (TICK_S).
      assert.equal(forgetLine.silentFor, (forgetLine.silentS as number) >= 3 * 3600 ? '3h 0m' : '2h 59m');

      // silent_s grows with the ticks while tel-1 says nothing.
      const later = await waitForStates(influx, 'a', 'tel-1 silent for 2 s more', (states) => (states.get('tel-1')?.silent_s ?? 0) >= tel.silent_s + 2);
      assert.equal(later.get('tel-1')!.last_seen, tel.last_seen);
      assert.equal(later.get('tel-1')!.since, tel.since);

      // Existing measurements are written as before.
      assert.deepEqual((await influx.query('SELECT "temperature" FROM telemetry WHERE "device" = \'tel-1\'', 'a')).map((row) => row.temperature), [20]);
      assert.deepEqual((await influx.query('SELECT "online", "location" FROM device_presence WHERE "device" = \'off-1\'', 'a')).map((row) => [row.time, row.online, row.location]), [[wentOfflineMs, 0, 'roof']]);

      // A restart: every duration is kept.
      assert.equal(await ingestor.stop(), 0);
      const saved = JSON.parse(readFileSync(directoryFile, 'utf8')) as { liveness: Record<string, unknown>; locations: Record<string, string> };
      assert.deepEqual(Object.keys(saved.liveness).sort(), ['off-1', 'tel-1'], 'old-1 is gone from the directory');
      assert.equal(saved.locations['old-1'], undefined);
      const stoppedAtMs = Date.now();
      ingestor.cleanup();
      ingestor = startIngestor(env, 'liveness-a');
      const afterRestart = await waitForStates(influx, 'a', 'a tick after the restart', (states) => (states.get('tel-1')?.time ?? 0) > stoppedAtMs && (states.get('off-1')?.time ?? 0) > stoppedAtMs);
      for (const device of ['off-1', 'tel-1']) {
        const before = later.get(device)!;
        const now = afterRestart.get(device)!;
        assert.deepEqual([now.state, now.since, now.last_seen, now.source, now.location, now.group], [before.state, before.since, before.last_seen, before.source, before.location, before.group], device);
        assert.ok(now.silent_s > before.silent_s, `${device}: silent_s goes on (${before.silent_s} → ${now.silent_s})`);
      }
      assert.equal(afterRestart.get('off-1')!.offline_s, Math.floor((afterRestart.get('off-1')!.time - wentOfflineMs) / 1000));
      // Nothing else forgot a device: the retained status re-sent at the restart changed nothing, and old-1 stays gone.
      assert.equal((await stateRows(influx, 'a', "WHERE \"device\" = 'old-1'")).length, 1);
      assert.equal(await ingestor.stop(), 0);
      const stopped = ingestor.logLines().find((line) => line.msg === 'stopped') as { stats: { devicesForgotten: number } };
      assert.equal(stopped.stats.devicesForgotten, 0, 'the restarted ingestor forgot nothing');
    } finally {
      publisher.end(true);
      await ingestor.stop();
      ingestor.cleanup();
      await broker.stop();
    }
  });

  test('catching up: ticks are skipped while most messages arrive late, and written again once they arrive on time', async () => {
    const broker = await startMosquitto();
    await influx.query('CREATE DATABASE b');
    const ingestor = startIngestor({
      MQTT_URL: broker.url, MQTT_CLIENT_ID: 'liveness-b', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'b',
      DEVICE_DIRECTORY_FILE: join(dir, 'directory-b.json'), DEVICE_STATE_MAX_LAG_S: '60', STATS_INTERVAL_MS: '1000', ...TICKS,
    }, 'liveness-b');
    const publisher = await connectPublisher(broker.url);
    try {
      await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry']);
      // On time: ticks are written.
      await publisher.publishAsync('sensors/lab/live-1/telemetry', JSON.stringify({ t: 1, ts: Date.now() }), { qos: 1 });
      await waitForStates(influx, 'b', 'live-1 written', (states) => states.has('live-1'));
      // A replayed backlog: every message 10 minutes late. Keep it coming until the ingestor says it is catching up.
      let backlogTs = Date.now() - 10 * MINUTE;
      const replay = setInterval(() => {
        backlogTs += 100;
        void publisher.publishAsync('sensors/lab/late-1/telemetry', JSON.stringify({ t: 2, ts: backlogTs }), { qos: 1 }).catch(() => {});
      }, 50);
      let catchingUpAtMs: number;
      try {
        const line = await ingestor.waitForLog('catching up (backlog)', (l) => l.why === 'backlog' && typeof l.msg === 'string' && l.msg.startsWith('catching up'));
        catchingUpAtMs = line.time as number;
        // While it lasts, ticks are skipped: wait for ingestor_stats to show it, then to count two more skipped ticks.
        const skipped = async (): Promise<number | undefined> => {
          const rows = await influx.query('SELECT last("device_state_skipped") AS skipped, last("catching_up") AS catching FROM ingestor_stats', 'b');
          return rows[0]?.catching === 1 ? (rows[0].skipped as number) : undefined;
        };
        const skippedAtFirst = await waitFor('ingestor_stats says catching_up', skipped);
        await waitFor('two more ticks skipped', async () => ((await skipped()) ?? 0) >= skippedAtFirst + 2 ? true : undefined);
      } finally {
        clearInterval(replay);
      }
      const skippedUntilMs = Date.now();
      // On time again.
      const resumed = setInterval(() => void publisher.publishAsync('sensors/lab/live-1/telemetry', JSON.stringify({ t: 3, ts: Date.now() }), { qos: 1 }).catch(() => {}), 100);
      try {
        await ingestor.waitForLog('caught up', (l) => l.msg === 'caught up: device_state ticks are written again');
      } finally {
        clearInterval(resumed);
      }
      const states = await waitForStates(influx, 'b', 'late-1 written after catching up', (s) => s.has('late-1'));
      // late-1's newest message is its payload's time, 10 minutes ago: it looks silent, not alive.
      assert.ok(states.get('late-1')!.silent_s >= 9 * 60, `silent_s ${states.get('late-1')!.silent_s}`);
      // No tick carries a time inside the catching-up window (between its first log line and the wait above, less a tick either side).
      const during = await stateRows(influx, 'b', `WHERE time > ${(catchingUpAtMs + 1000) * 1e6} AND time < ${(skippedUntilMs - 1000) * 1e6}`);
      assert.deepEqual(during, []);
    } finally {
      publisher.end(true);
      await ingestor.stop();
      ingestor.cleanup();
      await broker.stop();
    }
  });

  test('a device known only by a timeless retained status: device_state has no silent_s (the old rule\'s value was nil), device_trouble always has one, so the provisioned rule never sees nil', async () => {
    await influx.query('CREATE DATABASE m');
    const tickNs = 1_732_279_980_000 * 1e6;
    // What the ingestor writes (ingestor/liveness/to-point.ts): A is a fresh member that has only the retained "offline"; B has the device's data.
    const lines = [
      `device_state,device=both,instance=A,location=site state="offline",online=0i,offline_s=60i,since=1i,source="lwt" ${tickNs}`,
      `device_state,device=both,instance=B,location=site state="offline",online=0i,offline_s=5400i,silent_s=5400i,last_seen=2i,since=2i,source="lwt" ${tickNs}`,
      `device_state,device=lone,instance=A,location=site state="offline",online=0i,offline_s=60i,since=1i,source="lwt" ${tickNs}`,
      `device_state,device=talks,instance=B,location=site state="unknown",online=-1i,offline_s=0i,silent_s=900i,last_seen=3i,since=3i,source="none" ${tickNs}`,
      `device_trouble,device=both,instance=A,location=site state="offline",online=0i,offline_s=60i,silent_s=0i,since=1i ${tickNs}`,
      `device_trouble,device=both,instance=B,location=site state="offline",online=0i,offline_s=5400i,silent_s=5400i,last_seen=2i,since=2i ${tickNs}`,
      `device_trouble,device=lone,instance=A,location=site state="offline",online=0i,offline_s=60i,silent_s=0i,since=1i ${tickNs}`,
      `device_trouble,device=talks,instance=B,location=site state="unknown",online=-1i,offline_s=0i,silent_s=900i,last_seen=3i,since=3i ${tickNs}`,
      `device_trouble,instance=A online=1i,offline_s=0i,silent_s=0i,devices=2i,in_trouble=2i ${tickNs}`,
      `device_trouble,instance=B online=1i,offline_s=0i,silent_s=0i,devices=2i,in_trouble=2i ${tickNs}`,
    ];
    const written = await fetch(`${influx.url}/write?db=m&precision=ns`, { method: 'POST', body: lines.join('\n') });
    assert.equal(written.status, 204, await written.text());
    const where = `time = ${tickNs}`;
    // On device_state, min() skips the missing field; with none at all InfluxDB 1.6 returns the series with a null over_s:
    // Grafana reduces it to nil, and nil is NoData for that instance, which KeepLast keeps firing (issue 23, finding 10).
    const over = await influx.query(silenceOverLimitQuery(600, new Map(), where), 'm');
    const overByDevice = new Map(over.map((row) => [row.device as string, row.over_s]));
    assert.equal(overByDevice.get('talks'), 300);
    assert.equal(overByDevice.get('lone'), null, 'InfluxDB 1.6 returns the series with a null over_s');
    const offline = new Map((await influx.query(offlineSecondsQuery(where), 'm')).map((row) => [row.device as string, row.offline_s]));
    assert.deepEqual([offline.get('both'), offline.get('lone')], [60, 60]);
    const table = new Map((await influx.query(`SELECT min("silent_s") AS "silent_s", max("last_seen") AS "last_seen" FROM device_state WHERE ${where} GROUP BY ${PLACE_TAGS}`, 'm')).map((row) => [row.device as string, [row.silent_s, row.last_seen]]));
    assert.deepEqual(table.get('both'), [5400, 2]);
    // The provisioned rules read device_trouble: a number for every device (offline ones far below 0), so no instance is ever NoData.
    const rules = ruleGroups(loadThresholds()).flatMap((g) => g.rules);
    const silenceRule = rules.find((r) => r.uid === 'sensorflow-device-silent') ?? assert.fail('no silence rule');
    const evaluation = await evaluateRule(silenceRule, influx.url, 'm', tickNs / 1e6 + 30_000);
    assert.deepEqual([...evaluation.instances.values()].filter(isNoData), [], 'no nil value');
    assert.deepEqual([...evaluation.instances.values()].filter(isFiring).map((i) => i.labels.device), ['talks']);
    assert.ok((evaluation.instances.get(JSON.stringify([['device', 'lone'], ['group', ''], ['location', 'site']]))?.value ?? 0) === 0);
    const offlineRule = rules.find((r) => r.uid === 'sensorflow-device-offline') ?? assert.fail('no offline rule');
    assert.deepEqual([...(await evaluateRule(offlineRule, influx.url, 'm', tickNs / 1e6 + 30_000)).instances.values()].filter(isFiring).map((i) => i.labels.device), [], 'offline 60 s: below 5m');
  });

  test('two ingestors in one shared group agree on every device\'s presence; min(silent_s) is the newest message\'s', async () => {
    const broker = await startMosquitto();
    await influx.query('CREATE DATABASE c');
    const common = {
      MQTT_URL: broker.url, MQTT_SHARED_GROUP: 'liveness', INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'c', DEVICE_STATE_MAX_LAG_S: '86400', ...TICKS,
    };
    const members = ['member-1', 'member-2'].map((name) => startIngestor({ ...common, MQTT_CLIENT_ID: name, DEVICE_DIRECTORY_FILE: join(dir, `directory-${name}.json`) }, name));
    const publisher = await connectPublisher(broker.url);
    try {
      for (const member of members) await waitUntilSubscribed(member, ['$share/liveness/sensors/+/+/telemetry', 'sensors/+/+/status']);
      const baseMs = Date.now() - 5 * MINUTE;
      const presence = new Map<string, { online: boolean; atMs: number }>();
      for (let i = 0; i < 6; i += 1) presence.set(`p-${i}`, { online: i % 2 === 0, atMs: baseMs + i * 1000 });
      for (const [device, { online, atMs }] of presence) {
        await publisher.publishAsync(`sensors/site/${device}/status`, JSON.stringify({ online, ts: atMs }), { qos: 1, retain: true });
      }
      // Telemetry of six devices, 20 messages each with known times, spread over the members by the broker.
      const newest = new Map<string, number>();
      for (let n = 0; n < 20; n += 1) {
        for (let i = 0; i < 6; i += 1) {
          const device = `t-${i}`;
          const ts = baseMs + n * 7000 + i;
          newest.set(device, ts);
          await publisher.publishAsync(`sensors/site/${device}/telemetry`, JSON.stringify({ v: n, ts }), { qos: 1 });
        }
      }
      const instances = ['member-1', 'member-2'];
      const perInstance = await Promise.all(instances.map((instance) => waitForStates(influx, 'c', `${instance}: every presence device`, (states) => [...presence.keys()].every((d) => states.has(d)), instance)));
      for (const [device, { online, atMs }] of presence) {
        for (const [index, states] of perInstance.entries()) {
          const row = states.get(device)!;
          assert.deepEqual([row.state, row.online, row.since, row.source], [online ? 'online' : 'offline', online ? 1 : 0, atMs, 'lwt'], `${device} on ${instances[index]}`);
        }
      }
      // Each member took a share of the telemetry (a shared group).
      const telemetryPerMember = await Promise.all(instances.map(async (instance) => (await stateRows(influx, 'c', `WHERE "instance" = '${instance}' AND "device" =~ /^t-/`)).length));
      assert.ok(telemetryPerMember.every((count) => count > 0), `telemetry devices per member: ${telemetryPerMember.join(', ')}`);
      // min(silent_s) across members, the way the Grafana side queries it, at one tick both members wrote.
      // Once every message is in InfluxDB (so both members have handled theirs), a later tick that both wrote and that covers every device.
      await waitFor('all 120 telemetry points', async () => ((await influx.query('SELECT count("v") AS n FROM telemetry', 'c'))[0]?.n === 120 ? true : undefined));
      const allInMs = Date.now();
      const tick = await waitFor('a tick after that, written by both members, covering every telemetry device', async () => {
        const devicesAt = new Map<number, Set<string>>();
        const instancesAt = new Map<number, Set<string>>();
        for (const row of await stateRows(influx, 'c', `WHERE "device" =~ /^t-/ AND time > ${allInMs * 1e6}`)) {
          (devicesAt.get(row.time) ?? devicesAt.set(row.time, new Set()).get(row.time)!).add(row.device);
          (instancesAt.get(row.time) ?? instancesAt.set(row.time, new Set()).get(row.time)!).add(row.instance);
        }
        const full = [...devicesAt].filter(([time, devices]) => devices.size === newest.size && instancesAt.get(time)!.size === 2).map(([time]) => time);
        return full.length > 0 ? Math.min(...full) : undefined;
      });
      // Grouped as the rules group (device, location, group): the members' series join into one per device, with its location.
      const merged = await influx.query(`SELECT min("silent_s") AS silent FROM device_state WHERE time = ${tick * 1e6} AND "device" =~ /^t-/ GROUP BY ${PLACE_TAGS}`, 'c');
      assert.deepEqual(merged.map((row) => `${row.device as string} ${row.location as string} ${row.group as string}`).sort(), [...newest.keys()].sort().map((device) => `${device} site `));
      const byDevice = new Map(merged.map((row) => [row.device as string, row.silent as number]));
      for (const [device, ts] of newest) assert.equal(byDevice.get(device), Math.floor((tick - ts) / 1000), device);
      // The offline rule's own query over both members' points: one series per presence device, offline_s from its last will's time.
      const offline = await influx.query(offlineSecondsQuery(`time = ${tick * 1e6} AND "device" =~ /^p-/`), 'c');
      assert.deepEqual(offline.map((row) => [row.device, row.location, row.offline_s]).sort(), [...presence].map(([device, { online, atMs }]) => [device, 'site', online ? 0 : Math.floor((tick - atMs) / 1000)]).sort());
    } finally {
      publisher.end(true);
      for (const member of members) {
        await member.stop();
        member.cleanup();
      }
      await broker.stop();
    }
  });
});

describe('clients of the stack are never devices (development broker, EMQX events)', () => {
  test('health checks, a monitor login and a gateway login that speaks for no device leave no trace; devices do', async () => {
    const influx = await startInflux1();
    const broker = await startDevBroker([{ username: 'dev-001', password: 'dev-001-password', role: 'device' }]);
    const dir = mkdtempSync(join(tmpdir(), 'sensorflow-liveness-stack-'));
    const directoryFile = join(dir, 'directory.json');
    await influx.query('CREATE DATABASE d');
    const ingestor = startIngestor({
      MQTT_URL: broker.url, MQTT_USERNAME: DEV_BROKER_MONITOR.username, MQTT_PASSWORD: DEV_BROKER_MONITOR.password, PRESENCE_EMQX: 'true', PRESENCE_HOLD_MS: '1000',
      INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_BUCKET: 'd', DEVICE_DIRECTORY_FILE: directoryFile, LOG_LEVEL: 'debug', ...TICKS,
    }, 'liveness-stack');
    try {
      await waitUntilSubscribed(ingestor, ['$SYS/brokers/+/clients/+/connected', '$SYS/brokers/+/clients/+/disconnected']);
      // The image's health check, as the simulator's container runs it (a fresh gateway-healthcheck-<hex> client id each time).
      for (let i = 0; i < 3; i += 1) {
        const run = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'common', 'healthcheck.ts')], {
          cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000,
          env: { PATH: process.env.PATH, HEALTHCHECK_MQTT: 'true', MQTT_URL: broker.url, MQTT_USERNAME: DEV_BROKER_GATEWAY.username, MQTT_PASSWORD: DEV_BROKER_GATEWAY.password },
        });
        assert.equal(run.status, 0, run.stderr);
      }
      // Another stack client logged in as monitor (a second ingestor, a test), and a gateway login that publishes nothing.
      const monitor = await mqtt.connectAsync(broker.url, { clientId: 'ops-probe', reconnectPeriod: 0, ...DEV_BROKER_MONITOR });
      await monitor.endAsync();
      const idle = await mqtt.connectAsync(broker.url, { clientId: 'gateway-idle-1', reconnectPeriod: 0, ...DEV_BROKER_GATEWAY });
      await idle.endAsync();
      // Real devices: one behind the gateway (client id = its device id, it publishes), one with its own login.
      const behindGateway = await mqtt.connectAsync(broker.url, { clientId: 'sensor-7', reconnectPeriod: 0, ...DEV_BROKER_GATEWAY });
      await behindGateway.publishAsync('sensors/yard/sensor-7/telemetry', JSON.stringify({ temperature: 11 }), { qos: 1 });
      const own = await mqtt.connectAsync(broker.url, { clientId: 'dev-001', reconnectPeriod: 0, username: 'dev-001', password: 'dev-001-password' });

      // Each gateway login that is no device is dropped once its hold is up (its connected and its disconnected): wait for all of them.
      const dropped = await waitFor('every health check and the idle gateway login dropped as no device', () => {
        const lines = ingestor.logLines().filter((l) => typeof l.msg === 'string' && l.msg.includes('that is no device: dropped'));
        const events = new Set(lines.map((l) => `${l.device as string} ${String(l.online)}`));
        const clients = [...new Set(lines.map((l) => l.device as string))].sort();
        const healthchecks = clients.filter((client) => /^gateway-healthcheck-[0-9a-f]{8}$/.test(client));
        return healthchecks.length === 3 && [...healthchecks, 'gateway-idle-1'].every((client) => events.has(`${client} true`) && events.has(`${client} false`)) ? clients : undefined;
      }, 30_000);
      assert.equal(dropped.length, 4, dropped.join(', '));
      const states = await waitForStates(influx, 'd', 'sensor-7 and dev-001 in device_state', (s) => s.get('sensor-7')?.state === 'online' && s.get('dev-001')?.state === 'online');
      assert.deepEqual([...states.keys()].sort(), ['dev-001', 'sensor-7']);
      assert.equal(states.get('sensor-7')!.location, 'yard');
      assert.equal(states.get('sensor-7')!.source, 'emqx');
      const presenceDevices = (await influx.query('SELECT "online", "device" FROM device_presence', 'd')).map((row) => row.device as string);
      assert.deepEqual([...new Set(presenceDevices)].sort(), ['dev-001', 'sensor-7']);
      await behindGateway.endAsync();
      await own.endAsync();
      assert.equal(await ingestor.stop(), 0);
      const saved = JSON.parse(readFileSync(directoryFile, 'utf8')) as { liveness: Record<string, unknown>; locations: Record<string, unknown>; status: Record<string, unknown> };
      assert.deepEqual(Object.keys(saved.liveness).sort(), ['dev-001', 'sensor-7']);
      assert.deepEqual(Object.keys(saved.locations), ['sensor-7']);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
      await broker.stop();
      await influx.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
