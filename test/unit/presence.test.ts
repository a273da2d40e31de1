import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Handler, InboundMessage, Rejection } from '../../ingestor/contracts.ts';
import { emqxPresenceHandler } from '../../ingestor/decoders/presence-emqx.ts';
import { statusPresenceHandler } from '../../ingestor/decoders/presence-status.ts';
import { encodePoint } from '../../ingestor/model/line-protocol.ts';
import type { PresenceEvent } from '../../ingestor/presence/event.ts';
import { presencePoint } from '../../ingestor/presence/to-point.ts';
import { PresenceTracker } from '../../ingestor/presence/tracker.ts';

import { decodeWith } from '../harness/decode.ts';
import { inboundMessage } from '../harness/memory-ingest.ts';

const NOW = 1732280000000;
const DAY = 24 * 3_600_000;
const message = (topic: string, payload: string | object) => inboundMessage(topic, payload, NOW);

/** A presence handler's one event (presence handlers yield no points), or its rejection. */
function presenceOf(handler: Handler, message: InboundMessage, maxFutureMs: number): { ok: true; event: PresenceEvent } | Rejection {
  const result = decodeWith(handler, message, { maxFutureMs });
  if (!result.ok) return result;
  assert.deepEqual(result.points, []);
  assert.equal(result.presence?.length, 1);
  return { ok: true, event: result.presence[0]! };
}
const decodeEmqxPresence = (message: InboundMessage, maxFutureMs: number) => presenceOf(emqxPresenceHandler, message, maxFutureMs);
const decodeStatusPresence = (message: InboundMessage, maxFutureMs: number) => presenceOf(statusPresenceHandler, message, maxFutureMs);

/** Payloads as EMQX 5 publishes them. */
const connected = (clientid: string, connectedAt: number) =>
  message(`$SYS/brokers/emqx@10.0.0.1/clients/${clientid}/connected`, {
    clientid, username: 'dev', ipaddress: '10.1.2.3', sockport: 1883, proto_name: 'MQTT', proto_ver: 5,
    keepalive: 60, clean_start: true, expiry_interval: 0, connected_at: connectedAt, ts: connectedAt,
  });
const disconnected = (clientid: string, connectedAt: number, at: number, reason: string) =>
  message(`$SYS/brokers/emqx@10.0.0.1/clients/${clientid}/disconnected`, {
    clientid, username: 'dev', ipaddress: '10.1.2.3', sockport: 1883, proto_name: 'MQTT', proto_ver: 5,
    reason, connected_at: connectedAt, disconnected_at: at, ts: at,
  });

describe('decodeEmqxPresence', () => {
  test('connected: online at connected_at, with the IP', () => {
    assert.deepEqual(decodeEmqxPresence(connected('dev-1', NOW - 5000), DAY), {
      ok: true,
      event: { device: 'dev-1', source: 'emqx', online: true, atMs: NOW - 5000, reason: 'connected', ip: '10.1.2.3', connectedAtMs: NOW - 5000, username: 'dev' },
    });
  });

  test('disconnected: offline at disconnected_at with the reason; takenover and discarded are sessions that moved', () => {
    const result = decodeEmqxPresence(disconnected('dev-1', NOW - 5000, NOW - 1000, 'keepalive_timeout'), DAY);
    assert.ok(result.ok);
    assert.deepEqual(result.event, { device: 'dev-1', source: 'emqx', online: false, atMs: NOW - 1000, reason: 'keepalive_timeout', ip: '10.1.2.3', connectedAtMs: NOW - 5000, username: 'dev' });
    for (const reason of ['takenover', 'discarded']) {
      const moved = decodeEmqxPresence(disconnected('dev-1', NOW - 5000, NOW - 1000, reason), DAY);
      assert.ok(moved.ok && moved.event.sessionMoved === true, reason);
    }
  });

  for (const [what, payload, reason] of [
    ['not JSON', '{"clientid":', 'invalid_json'],
    ['an array', '[]', 'bad_presence'],
    ['no clientid', { connected_at: NOW }, 'bad_presence'],
    ['an empty clientid', { clientid: '', connected_at: NOW }, 'bad_presence'],
    ['no connected_at', { clientid: 'd' }, 'bad_presence'],
    ['a text connected_at', { clientid: 'd', connected_at: 'now' }, 'bad_presence'],
    ['a time in 1970', { clientid: 'd', connected_at: 5 }, 'bad_timestamp'],
  ] as const) {
    test(`rejects ${what} as ${reason}`, () => {
      const result = decodeEmqxPresence(message('$SYS/brokers/n/clients/d/connected', payload), DAY);
      assert.ok(!result.ok);
      assert.equal(result.reason, reason, result.error);
    });
  }
});

describe('decodeStatusPresence', () => {
  for (const [payload, online] of [['online', true], ['offline', false], ['1', true], ['0', false], ['TRUE', true], [' false\n', false], ['{"online":true}', true], ['{"online":0}', false]] as const) {
    test(`${JSON.stringify(payload)} → ${online ? 'online' : 'offline'}`, () => {
      assert.deepEqual(decodeStatusPresence(message('sensors/lab/dev-1/status', payload), DAY), {
        ok: true,
        event: { device: 'dev-1', location: 'lab', source: 'lwt', online, atMs: NOW, reason: 'status' },
      });
    });
  }

  test('JSON may carry its own reason and time', () => {
    const result = decodeStatusPresence(message('sensors/lab/dev-1/status', { online: false, reason: 'battery_empty', ts: (NOW - 60_000) / 1000 }), DAY);
    assert.ok(result.ok);
    assert.equal(result.event.reason, 'battery_empty');
    assert.equal(result.event.atMs, NOW - 60_000);
    assert.equal(result.event.timeFromPayload, true);
  });

  test('a retained message says so (the broker re-sent a known state)', () => {
    const result = decodeStatusPresence({ ...message('sensors/lab/dev-1/status', 'offline'), retained: true }, DAY);
    assert.deepEqual(result, { ok: true, event: { device: 'dev-1', location: 'lab', source: 'lwt', online: false, atMs: NOW, reason: 'status', retained: true } });
  });

  test('TIMESTAMP_MAX_FUTURE_MS bounds status and EMQX times like every other payload time', () => {
    const ahead = NOW + 2 * 3_600_000;
    const status = message('sensors/lab/dev-1/status', { online: true, ts: ahead });
    assert.equal(decodeStatusPresence(status, DAY).ok, true);
    const refused = decodeStatusPresence(status, 3_600_000);
    assert.ok(!refused.ok);
    assert.equal(refused.reason, 'bad_timestamp');
    assert.match(refused.error, /more than 3600000 ms after the receive time/);
    const emqx = decodeEmqxPresence(connected('dev-1', ahead), 3_600_000);
    assert.ok(!emqx.ok);
    assert.equal(emqx.reason, 'bad_timestamp');
  });

  test('MAX_PAYLOAD_BYTES bounds presence payloads too, when it is below their own cap', () => {
    const status = message('sensors/lab/dev-1/status', { online: true, reason: 'r'.repeat(100) });
    assert.equal(decodeWith(statusPresenceHandler, status).ok, true);
    const refused = decodeWith(statusPresenceHandler, status, { maxPayloadBytes: 64 });
    assert.ok(!refused.ok);
    assert.equal(refused.reason, 'payload_too_large');
    const emqx = decodeWith(emqxPresenceHandler, connected('dev-1', NOW), { maxPayloadBytes: 64 });
    assert.ok(!emqx.ok);
    assert.equal(emqx.reason, 'payload_too_large');
  });

  for (const payload of ['maybe', '', '{"online":"yes"}', '{}', '[true]', 'x'.repeat(5000)]) {
    test(`rejects ${JSON.stringify(payload.slice(0, 20))}`, () => {
      const result = decodeStatusPresence(message('sensors/lab/dev-1/status', payload), DAY);
      assert.ok(!result.ok);
      assert.ok(['bad_presence', 'payload_too_large'].includes(result.reason), result.reason);
    });
  }
});

describe('PresenceTracker', () => {
  const event = (overrides: Partial<PresenceEvent>): PresenceEvent => ({ device: 'd', source: 'emqx', online: true, atMs: NOW, reason: 'connected', ...overrides });

  test('a replay of out-of-order EMQX events yields the right final state', () => {
    // What happened: connect@100, drop@200 (keepalive), reconnect@300, taken over@400 by a new connection@400, clean close@500.
    const happened = [
      connected('d', NOW + 100),
      disconnected('d', NOW + 100, NOW + 200, 'keepalive_timeout'),
      connected('d', NOW + 300),
      disconnected('d', NOW + 300, NOW + 400, 'takenover'),
      connected('d', NOW + 400),
      disconnected('d', NOW + 400, NOW + 500, 'normal'),
    ];
    const arrival = [happened[2], happened[0], happened[4], happened[1], happened[3], happened[5]];
    const tracker = new PresenceTracker();
    const applied = arrival.map((m) => decodeEmqxPresence(m!, DAY)).filter((r) => r.ok).filter((r) => tracker.judge(r.event).apply).map((r) => [r.event.online, r.event.reason]);
    assert.deepEqual(applied, [[true, 'connected'], [true, 'connected'], [false, 'normal']]);

    // A disconnect of an older connection is stale even when it is stamped later than the newer connect.
    const second = new PresenceTracker();
    assert.deepEqual(second.judge(event({ atMs: NOW + 300, connectedAtMs: NOW + 300 })), { apply: true, atMs: NOW + 300 });
    assert.deepEqual(second.judge(event({ online: false, atMs: NOW + 350, connectedAtMs: NOW + 100, reason: 'tcp_closed' })), { apply: false, why: 'stale' });
  });

  test('newest wins across sources; a moved session never reads as offline', () => {
    const tracker = new PresenceTracker();
    assert.equal(tracker.judge(event({ source: 'lwt', online: false, atMs: NOW + 10, reason: 'status' })).apply, true);
    assert.deepEqual(tracker.judge(event({ atMs: NOW + 5 })), { apply: false, why: 'stale' });
    assert.deepEqual(tracker.judge(event({ online: false, atMs: NOW + 20, reason: 'takenover', sessionMoved: true })), { apply: false, why: 'session_moved' });
    assert.equal(tracker.judge(event({ atMs: NOW + 20 })).apply, true);
  });

  test('a change of state in the same millisecond is written 1 ms later; a repeat keeps its time', () => {
    const tracker = new PresenceTracker();
    // Connects and drops within one millisecond: both transitions must survive as distinct points.
    assert.deepEqual(tracker.judge(event({ atMs: NOW, connectedAtMs: NOW })), { apply: true, atMs: NOW });
    assert.deepEqual(tracker.judge(event({ online: false, atMs: NOW, connectedAtMs: NOW, reason: 'tcp_closed' })), { apply: true, atMs: NOW + 1 });
    // Reconnects in that same millisecond: after the disconnect, not on top of it.
    assert.deepEqual(tracker.judge(event({ atMs: NOW, connectedAtMs: NOW })), { apply: false, why: 'stale' });
    assert.deepEqual(tracker.judge(event({ atMs: NOW + 1, connectedAtMs: NOW + 1 })), { apply: true, atMs: NOW + 2 });
    // The same event twice (a redelivery): the same time, so its point overwrites itself.
    assert.deepEqual(tracker.judge(event({ online: false, atMs: NOW + 5, connectedAtMs: NOW + 1, reason: 'normal' })), { apply: true, atMs: NOW + 5 });
    assert.deepEqual(tracker.judge(event({ online: false, atMs: NOW + 5, connectedAtMs: NOW + 1, reason: 'normal' })), { apply: true, atMs: NOW + 5 });
  });
});

describe('presencePoint', () => {
  test('device_presence with device, location, group, source; online as an integer', () => {
    const point = presencePoint(
      { device: 'dev 1', source: 'emqx', online: false, atMs: NOW, reason: 'keepalive_timeout', ip: '10.1.2.3' },
      { location: 'hall a', group: 'floor-2', extra: { type: 'thermo' } },
    );
    assert.equal(encodePoint(point), `device_presence,device=dev\\ 1,group=floor-2,location=hall\\ a,source=emqx online=0i,event="disconnected",reason="keepalive_timeout",ip="10.1.2.3" ${NOW}`);
  });

  test('a status topic\'s location beats the directory; unknown devices get location and group "unknown", never a missing tag', () => {
    const fromStatus = presencePoint({ device: 'd', source: 'lwt', online: true, atMs: NOW, reason: 'status', location: 'lab' }, { location: 'old', group: 'unknown', extra: {} });
    assert.deepEqual(fromStatus.tags, { device: 'd', location: 'lab', group: 'unknown', source: 'lwt' });
    const unknown = presencePoint({ device: 'd', source: 'emqx', online: true, atMs: NOW, reason: 'connected' }, { location: 'unknown', group: 'unknown', extra: {} });
    assert.deepEqual(unknown.tags, { device: 'd', location: 'unknown', group: 'unknown', source: 'emqx' });
  });
});
