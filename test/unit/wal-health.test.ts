/**
 * What the ingestor says about its log and InfluxDB: /readyz reasons and
 * warnings, the InfluxDB failing streak, and the delivery policy's log
 * lines (one per change of state, naming INFLUX_URL; "accepts writes again"
 * only after a write succeeded, with the other batches woken at once).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { redactUrl } from '../../ingestor/config.ts';
import { assessReadiness, WAL_FULL_REASON } from '../../ingestor/health/readiness.ts';
import { encodePoint } from '../../ingestor/model/line-protocol.ts';
import { emptyStats, statsPoint } from '../../ingestor/pipeline/stats.ts';
import { Delivery } from '../../ingestor/writer/delivery.ts';
import { describeInfluxState, InfluxHealth } from '../../ingestor/writer/influx-health.ts';
import type { WriteOutcome } from '../../ingestor/writer/outcome.ts';

const SINCE = Date.UTC(2026, 10, 23, 6, 0, 0);
const inputs = {
  stopping: false, brokerConnected: true, append: { kind: 'open' } as const, influx: { kind: 'unknown' } as const,
  walDirSetting: 'WAL_DIR="/data/wal"', influxTarget: 'INFLUX_URL=http://influxdb:8086',
};

describe('assessReadiness', () => {
  test('ready with nothing to say', () => {
    assert.deepEqual(assessReadiness(inputs), { ready: true, reasons: [], warnings: [] });
  });

  test('a refusing disk: not ready, with the error, the setting and since when', () => {
    assert.deepEqual(assessReadiness({ ...inputs, append: { kind: 'failing', code: 'ENOSPC', sinceMs: SINCE } }), {
      ready: false,
      reasons: ['write-ahead log cannot append: ENOSPC on WAL_DIR="/data/wal" since 2026-11-23T06:00:00.000Z; not acknowledging messages, retrying until it can'],
      warnings: [],
    });
  });

  test('no broker: since when', () => {
    assert.deepEqual(assessReadiness({ ...inputs, brokerConnected: false, brokerDisconnectedSinceMs: SINCE }).reasons, [
      'not connected to the MQTT broker since 2026-11-23T06:00:00.000Z',
    ]);
  });

  test('a full log, no broker, stopping: each a reason', () => {
    assert.deepEqual(assessReadiness({ ...inputs, stopping: true, brokerConnected: false, append: { kind: 'full', sinceMs: SINCE } }).reasons, [
      'stopping', 'not connected to the MQTT broker', WAL_FULL_REASON,
    ]);
  });

  test('InfluxDB failing: still ready (the log takes messages), with a warning saying since when', () => {
    const influx = { kind: 'failing', sinceMs: SINCE, outcome: 'network_error', error: 'connect ECONNREFUSED 10.0.0.5:8086' } as const;
    assert.deepEqual(assessReadiness({ ...inputs, influx }), {
      ready: true,
      reasons: [],
      warnings: ['InfluxDB unreachable since 2026-11-23T06:00:00.000Z (INFLUX_URL=http://influxdb:8086: network_error: connect ECONNREFUSED 10.0.0.5:8086); the write-ahead log keeps the data'],
    });
    assert.match(describeInfluxState({ ...influx, outcome: 'misconfigured', error: 'database not found' }, 'X')!, /^InfluxDB refusing writes since/);
  });

  test('a password in INFLUX_URL never reaches /readyz or the logs', () => {
    assert.equal(redactUrl('http://user:s3cret@influxdb:8086'), 'http://user:***@influxdb:8086/');
    assert.equal(redactUrl('http://influxdb:8086'), 'http://influxdb:8086');
  });
});

describe('InfluxHealth', () => {
  test('a failing streak keeps its start across retries; a write ends it; whenFailing() resolves on the change', async () => {
    let now = SINCE;
    const health = new InfluxHealth(() => now);
    const failing = health.whenFailing();
    assert.equal(health.failed({ kind: 'network_error', message: 'ECONNREFUSED' }), true);
    await failing;
    now += 5000;
    assert.equal(health.failed({ kind: 'network_error', message: 'ECONNREFUSED' }), false, 'same streak, no news');
    assert.equal(health.failed({ kind: 'misconfigured', status: 404, message: 'database not found' }), true, 'a new kind is news');
    assert.deepEqual(health.state, { kind: 'failing', sinceMs: SINCE, outcome: 'misconfigured', error: 'database not found' });
    assert.deepEqual(health.written(), { kind: 'failing', sinceMs: SINCE, outcome: 'misconfigured', error: 'database not found' });
    assert.equal(health.written(), undefined, 'already writing');
  });
});

describe('Delivery log lines and recovery', () => {
  function capturingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    return { log, lines };
  }

  test('one warning per failing streak naming INFLUX_URL; "accepts writes again" after the first success, which wakes the other batches', async () => {
    let up = false;
    const requests: string[] = [];
    let pendingSleeps = 0;
    let onSleep: () => void = () => {};
    const { log, lines } = capturingLog();
    const delivery = new Delivery({
      send: (batch) => {
        requests.push(batch[0]!);
        const outcome: WriteOutcome = up ? { kind: 'written' } : { kind: 'network_error', message: 'connect ECONNREFUSED 127.0.0.1:8086' };
        return Promise.resolve(outcome);
      },
      log,
      events: { written: () => {}, rejected: () => {}, retrying: () => {} },
      target: 'INFLUX_URL=http://127.0.0.1:8086',
      // Backoff that never ends by itself: only a success elsewhere can wake a batch.
      sleep: () => {
        pendingSleeps += 1;
        onSleep();
        return new Promise(() => {});
      },
    });
    const bothAsleep = new Promise<void>((resolve) => (onSleep = () => pendingSleeps === 2 && resolve()));
    const first = delivery.deliver(['a 1']);
    const second = delivery.deliver(['b 2']);
    await bothAsleep;
    assert.deepEqual(lines.map((l) => l.msg), ['InfluxDB at INFLUX_URL=http://127.0.0.1:8086 is unreachable: connect ECONNREFUSED 127.0.0.1:8086; keeping the data in the write-ahead log and retrying']);
    assert.equal(delivery.health.state.kind, 'failing');

    up = true;
    await delivery.deliver(['c 3']); // a new batch gets through ...
    await Promise.all([first, second]); // ... and wakes the two sleeping ones, whose backoff would never end
    assert.deepEqual(requests, ['a 1', 'b 2', 'c 3', 'a 1', 'b 2']);
    assert.deepEqual(lines.map((l) => l.msg).slice(1), ['InfluxDB accepts writes again']);
    assert.equal(delivery.health.state.kind, 'writing');
  });
});

describe('ingestor_stats', () => {
  test('carries influx_up, so an outage shows on a dashboard once the points land', () => {
    const gauges = { rejects: 0, walBytes: 10, walUnreadBytes: 5, brokerConnected: true, influxUp: false };
    assert.equal(
      encodePoint(statsPoint('ingestor-1', emptyStats(), gauges, SINCE)),
      `ingestor_stats,instance=ingestor-1 messages_in=0,points_accepted=0,points_written=0,points_rejected_by_influx=0,write_retries=0,rejects=0,backlog_bytes=5,wal_bytes=10,mqtt_connected=1,influx_up=0,devices_known=0,devices_forgotten=0,device_state_ticks=0,device_state_skipped=0,device_state_invalid=0,catching_up=0 ${SINCE}`,
    );
  });
});
