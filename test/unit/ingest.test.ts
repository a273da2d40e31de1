/**
 * Ingest itself, the production pipeline, over an in-memory log: which
 * handler takes a message, what the flags switch, how a reject is recorded,
 * the strict registry, and a message too large for the log.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import sparkplug from 'sparkplug-payload';
import { reject, type Handler, type InboundMessage } from '../../ingestor/contracts.ts';
import { handlerTable } from '../../ingestor/pipeline/handlers.ts';
import { parseRoutes } from '../../ingestor/routes/routes-file.ts';
import { seededRandom } from '../../simulator/readings.ts';
import { defaultRoutes, memoryIngest } from '../harness/memory-ingest.ts';

const NOW = 1732280000000;
const codec = sparkplug.get('spBv1.0')!;

const msg = (topic: string, payload: string | object | Buffer, extra: Partial<InboundMessage> = {}): InboundMessage => ({
  topic,
  payload: Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
  receivedAtMs: NOW,
  ...extra,
});
const telemetry = (device: string, fields: object = { temperature: 21.5 }) => msg(`sensors/lab/${device}/telemetry`, fields);
const sparkplugBirth = () => msg('spBv1.0/plant/NBIRTH/gw-1', Buffer.from(codec.encodePayload({ timestamp: NOW, metrics: [{ name: 'Temp', type: 'Double', value: 21.5 }] })));
const emqxConnected = (clientid: string) =>
  msg(`$SYS/brokers/emqx@n/clients/${clientid}/connected`, { clientid, ipaddress: '10.0.0.9', connected_at: NOW, ts: NOW }, { qos: 0 });
/** The `reason` and `route` tags of the `ingest_rejects` lines. */
const rejectTags = (lines: readonly string[]) =>
  lines.filter((line) => line.startsWith('ingest_rejects,')).map((line) => /^ingest_rejects,reason=([^,]+),route=(\S+) /.exec(line)?.slice(1, 3));

/** A handler that takes topics starting with `prefix` and says who it is in a point. */
const tagging = (name: string, prefix: string): Handler => ({
  name,
  match: (topic) => (topic.startsWith(prefix) ? {} : null),
  decode: (message) => ({ ok: true, points: [{ measurement: 'm', tags: { by: name }, fields: { v: { kind: 'float', value: 1 } }, timestampMs: message.receivedAtMs }] }),
});

describe('Ingest: picking the handler', () => {
  test('the first handler that matches decodes; no other sees the message', async () => {
    const refusing: Handler = { name: 'refusing', match: (topic) => (topic.startsWith('a/b') ? {} : null), decode: () => reject('bad_field', 'this handler refuses everything') };
    const { ingest, log } = memoryIngest({ handlers: [tagging('first', 'a/'), refusing, tagging('last', '')] });
    await ingest.accept(msg('a/b/c', '1'));
    await ingest.accept(msg('x/y', '1'));
    assert.deepEqual(log.lines, [`m,by=first v=1 ${NOW}`, `m,by=last v=1 ${NOW}`]);
  });

  test('the captures of the match reach decode, with the same bounds for every handler', async () => {
    const seen: unknown[] = [];
    const spy: Handler = {
      name: 'spy',
      match: (topic) => ({ topic }),
      decode: (_message, context) => {
        seen.push(context);
        return { ok: true, points: [] };
      },
    };
    const { ingest } = memoryIngest({ handlers: [spy], bounds: { maxPayloadBytes: 1234, maxFutureMs: 5678 } });
    await ingest.accept(msg('t/1', ''));
    assert.deepEqual(seen, [{ captures: { topic: 't/1' }, bounds: { maxPayloadBytes: 1234, maxFutureMs: 5678 } }]);
  });

  test('the table: EMQX presence, status presence, Sparkplug, then the routes in file order', () => {
    const routes = parseRoutes('r.yaml', 'routes:\n  - { name: b, topic: "b/{device}" }\n  - { name: a, topic: "a/{device}" }\n');
    const names = (emqxPresence: boolean, sparkplugOn: boolean) => handlerTable({ emqxPresence, sparkplug: sparkplugOn, routes }).map((handler) => handler.name);
    assert.deepEqual(names(true, true), ['presence-emqx', 'presence-status', 'sparkplug', 'b', 'a']);
    assert.deepEqual(names(false, false), ['presence-status', 'b', 'a']);
    assert.deepEqual(names(true, false), ['presence-emqx', 'presence-status', 'b', 'a']);
    assert.deepEqual(names(false, true), ['presence-status', 'sparkplug', 'b', 'a']);
  });

  test('a status topic is presence even when a route would match it too', async () => {
    const routes = parseRoutes('r.yaml', 'routes:\n  - { name: everything, topic: "sensors/{location}/{device}/{stream}", format: value, field: "{stream}" }\n');
    const { ingest, log } = memoryIngest({ routes });
    await ingest.accept(msg('sensors/lab/dev-1/status', 'online'));
    await ingest.accept(msg('sensors/lab/dev-1/voltage', '3.3'));
    assert.deepEqual(log.lines.map((line) => line.split(',')[0]), ['device_presence', 'telemetry']);
  });

  test('no handler matches: topic_unmatched, route none, naming what was tried', async () => {
    const { ingest, log, rejects } = memoryIngest({ emqxPresence: false, sparkplug: false });
    await ingest.accept(msg('elsewhere/dev-1', '{}'));
    assert.deepEqual(rejects.counts(), { topic_unmatched: 1 });
    assert.deepEqual(rejectTags(log.lines), [['topic_unmatched', 'none']]);
    assert.match(log.lines[0]!, /error="no route matches the topic \(tried, in order: presence-status, default\)"/);
  });
});

describe('Ingest: SPARKPLUG and PRESENCE_EMQX switch their handlers', () => {
  test('SPARKPLUG=true: Sparkplug B is decoded; false: its topics are like any other (unmatched by the default route)', async () => {
    const on = memoryIngest({ sparkplug: true });
    await on.ingest.accept(sparkplugBirth());
    assert.deepEqual(on.log.lines.map((line) => line.split(' ')[0]), [
      'sparkplug,device=gw-1,edge=gw-1,group=plant,location=unknown',
      'device_presence,device=gw-1,group=unknown,location=unknown,source=sparkplug',
    ]);
    const off = memoryIngest({ sparkplug: false });
    await off.ingest.accept(sparkplugBirth());
    assert.deepEqual(rejectTags(off.log.lines), [['topic_unmatched', 'none']]);
  });

  test('SPARKPLUG=false: a route for spBv1.0 topics takes them', async () => {
    const routes = parseRoutes('r.yaml', 'routes:\n  - { name: raw-spb, topic: "spBv1.0/#", format: value, measurement: raw, device: edge }\n');
    const { ingest, log } = memoryIngest({ sparkplug: false, routes });
    await ingest.accept(msg('spBv1.0/plant/NDATA/gw-1', '7'));
    assert.deepEqual(log.lines, [`raw,device=edge,location=unknown value=7 ${NOW}`]);
  });

  test('PRESENCE_EMQX=true: EMQX events are presence; false: unmatched', async () => {
    const on = memoryIngest({ emqxPresence: true });
    await on.ingest.accept(emqxConnected('dev-1'));
    assert.deepEqual(on.log.lines, [`device_presence,device=dev-1,group=unknown,location=unknown,source=emqx online=1i,event="connected",reason="connected",ip="10.0.0.9" ${NOW}`]);
    const off = memoryIngest({ emqxPresence: false });
    await off.ingest.accept(emqxConnected('dev-1'));
    assert.deepEqual(rejectTags(off.log.lines), [['topic_unmatched', 'none']]);
  });

  test('EMQX events about the ingestor\'s own client id write nothing and are no reject; devices still are presence', async () => {
    const { ingest, log, rejects } = memoryIngest({ handlers: handlerTable({ emqxPresence: true, ownClientId: 'sensorflow-ingestor', sparkplug: false, routes: defaultRoutes() }) });
    await ingest.accept(emqxConnected('sensorflow-ingestor'));
    await ingest.accept(emqxConnected('dev-1'));
    assert.deepEqual(log.lines, [`device_presence,device=dev-1,group=unknown,location=unknown,source=emqx online=1i,event="connected",reason="connected",ip="10.0.0.9" ${NOW}`]);
    assert.deepEqual(rejects.counts(), {});
  });
});

describe('Ingest: rejects', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: NOW }));
  afterEach(() => mock.timers.reset());

  test('each reject is counted; at most 50 ingest_rejects points a second, then the budget refills', async () => {
    const { ingest, log, rejects, stats } = memoryIngest();
    for (let i = 0; i < 60; i += 1) await ingest.accept(msg(`sensors/lab/dev-${i}/telemetry`, 'not json', { receivedAtMs: Date.now() }));
    assert.equal(rejects.total, 60);
    assert.deepEqual(rejects.counts(), { invalid_json: 60 });
    assert.equal(log.lines.length, 50);
    assert.deepEqual(new Set(rejectTags(log.lines).map((tags) => tags?.join())), new Set(['invalid_json,default']));
    assert.match(log.lines[0]!, /^ingest_rejects,reason=invalid_json,route=default topic="sensors\/lab\/dev-0\/telemetry",error="payload is not JSON: .+",payload="not json" 1732280000000$/);
    assert.equal(stats.messagesIn, 60);
    assert.equal(stats.pointsAccepted, 50);
    mock.timers.tick(100);
    for (let i = 0; i < 6; i += 1) await ingest.accept(msg(`sensors/lab/late-${i}/telemetry`, 'not json', { receivedAtMs: Date.now() }));
    assert.equal(log.lines.length, 55, 'a tenth of a second refills 5 points');
    assert.equal(rejects.total, 66);
  });

  test('the route tag names the handler that refused: the route, sparkplug, presence-status, presence-emqx', async () => {
    const { ingest, log } = memoryIngest();
    await ingest.accept(msg('sensors/lab/dev-1/telemetry', '[]'));
    await ingest.accept(msg('spBv1.0/plant/NDATA/gw-1', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])));
    await ingest.accept(msg('sensors/lab/dev-1/status', 'maybe'));
    await ingest.accept(msg('$SYS/brokers/n/clients/dev-1/connected', '{}'));
    assert.deepEqual(rejectTags(log.lines), [
      ['not_an_object', 'default'],
      ['bad_sparkplug', 'sparkplug'],
      ['bad_presence', 'presence-status'],
      ['bad_presence', 'presence-emqx'],
    ]);
  });

  test('messages are counted by the handler that took them (the route label of /metrics), none when nothing matched', async () => {
    const { ingest, stats } = memoryIngest();
    await ingest.accept(telemetry('dev-1'));
    await ingest.accept(telemetry('dev-2'));
    await ingest.accept(msg('sensors/lab/dev-1/status', 'online'));
    await ingest.accept(msg('nowhere/at/all', '1'));
    assert.deepEqual(Object.fromEntries(stats.messagesByRoute), { default: 2, 'presence-status': 1, none: 1 });
    assert.equal(stats.messagesIn, 4);
  });
});

describe('Ingest: the registry', () => {
  const registry = 'strict: true\ndevices:\n  dev-1: { location: plant, group: g1, type: thermo, tags: { building: A } }\n';

  test('strict: a device not listed is rejected (unknown_device), whatever handler decoded it; nothing else is written', async () => {
    const { ingest, log, rejects } = memoryIngest({ registry });
    await ingest.accept(telemetry('stranger'));
    await ingest.accept(msg('sensors/lab/stranger/status', 'online'));
    await ingest.accept(sparkplugBirth());
    assert.deepEqual(rejects.counts(), { unknown_device: 3 });
    assert.deepEqual(rejectTags(log.lines), [['unknown_device', 'default'], ['unknown_device', 'presence-status'], ['unknown_device', 'sparkplug']]);
    assert.match(log.lines[0]!, /error="device \\"stranger\\" is not in DEVICES_FILE, which is strict"/);
  });

  test('a listed device gets its registry tags; the topic\'s location wins over the registry\'s', async () => {
    const { ingest, log } = memoryIngest({ registry });
    await ingest.accept(telemetry('dev-1'));
    await ingest.accept(msg('sensors/roof/dev-1/status', 'offline'));
    assert.deepEqual(log.lines, [
      `telemetry,building=A,device=dev-1,group=g1,location=lab,type=thermo temperature=21.5 ${NOW}`,
      `device_presence,device=dev-1,group=g1,location=roof,source=lwt online=0i,event="disconnected",reason="status" ${NOW}`,
    ]);
  });

  test('not strict: an unknown device is written, with location unknown when its topic names none', async () => {
    const routes = parseRoutes('r.yaml', 'routes:\n  - { name: stream, topic: "{device}/{stream}", format: value, field: "{stream}" }\n');
    const { ingest, log } = memoryIngest({ routes });
    await ingest.accept(msg('dev-9/humidity', '45'));
    assert.deepEqual(log.lines, [`telemetry,device=dev-9,location=unknown humidity=45 ${NOW}`]);
  });
});

describe('Ingest: the log', () => {
  test('a message whose record the log can never hold is a payload_too_large reject under its handler, acknowledged', async () => {
    const { ingest, log, rejects, stats } = memoryIngest({ maxRecordBytes: 1500 });
    const fields = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`field_${i}`, i]));
    await ingest.accept(telemetry('dev-1', fields));
    assert.deepEqual(rejects.counts(), { payload_too_large: 1 });
    assert.deepEqual(rejectTags(log.lines), [['payload_too_large', 'default']]);
    assert.match(log.lines[0]!, /error="its points take \d+ bytes in the log, more than a segment holds \(1500\)"/);
    assert.equal(stats.pointsAccepted, 1, 'only the reject point');
  });

  test('a log that cannot take the record now: accept rejects, so the message is not acknowledged', async () => {
    const { ingest, log, stats } = memoryIngest();
    log.append = () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    await assert.rejects(async () => ingest.accept(telemetry('dev-1')), /ENOSPC/);
    assert.equal(stats.pointsAccepted, 0);
  });

  test('all of a message\'s lines go in one record; points of one message are all or nothing', async () => {
    const routes = defaultRoutes();
    const { ingest, log, rejects } = memoryIngest({ routes });
    await ingest.accept(msg('sensors/lab/dev-1/telemetry', [{ t: 1, ts: NOW - 1000 }, { t: 2, ts: NOW }]));
    assert.deepEqual(log.records, [[`telemetry,device=dev-1,location=lab t=1 ${NOW - 1000}`, `telemetry,device=dev-1,location=lab t=2 ${NOW}`]]);
    await ingest.accept(msg('sensors/lab/dev-1/telemetry', [{ t: 1 }, { t: 'x', time: 5 }]));
    assert.deepEqual(rejects.counts(), { bad_timestamp: 1 });
    assert.equal(log.records.length, 2, 'only the reject point after the first record');
  });
});

describe('Ingest: the handler contract under hostile bytes', () => {
  test('every built-in handler answers random payloads with a value, never an exception; every message is settled', async () => {
    const random = seededRandom(12);
    const topics = ['sensors/lab/dev-1/status', '$SYS/brokers/n/clients/dev-1/connected', '$SYS/brokers/n/clients/dev-1/disconnected', 'spBv1.0/g/DBIRTH/e/d', 'spBv1.0/g/NDATA/e', 'sensors/lab/dev-1/telemetry'];
    const { ingest, stats, rejects, log } = memoryIngest();
    let count = 0;
    for (const topic of topics) {
      for (let i = 0; i < 300; i += 1) {
        const payload = Buffer.from(Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256)));
        await ingest.accept(msg(topic, payload));
        count += 1;
      }
    }
    assert.equal(stats.messagesIn, count);
    assert.ok(rejects.total > count / 2, `most random payloads are rejects (${rejects.total} of ${count})`);
    for (const line of log.lines) assert.match(line, /^(ingest_rejects|device_presence|sparkplug|telemetry),/);
  });
});
