/**
 * The MQTT source's acknowledgements against a real Mosquitto, in process:
 * which messages the broker still holds for the session after a stop, and
 * after a message the sink refused. The broker is the judge: a second client
 * resuming the same persistent session receives exactly what was never
 * acknowledged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { loadConfig } from '../../ingestor/config.ts';
import type { InboundMessage, MessageSink } from '../../ingestor/contracts.ts';
import { MqttSource } from '../../ingestor/sources/mqtt.ts';
import { waitFor } from '../harness/process.ts';
import { connectPublisher, publishAll } from '../harness/publisher.ts';
import { startMosquitto, type Mosquitto } from '../harness/services.ts';

const noFiles = (): Buffer => {
  throw new Error('no files here');
};

function capturingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

/** Resumes (or creates) the persistent session `clientId` with a plain mqtt.js client subscribed to `filter`. */
async function resumeSession(url: string, clientId: string, filter: string, onMessage: (payload: string) => void): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
  client.on('message', (_topic, payload) => onMessage(payload.toString()));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return client;
}

/**
 * What the broker still holds for the session: resumes it, publishes a
 * marker behind the queue, and returns every message received before the
 * marker (each acknowledged, so the session is empty afterwards).
 */
async function heldForSession(broker: Mosquitto, clientId: string, filter: string, topic: string): Promise<string[]> {
  const received: string[] = [];
  let markerSeen = false;
  const client = await resumeSession(broker.url, clientId, filter, (payload) => {
    if (payload === 'marker') markerSeen = true;
    else if (!markerSeen) received.push(payload);
  });
  const publisher = await connectPublisher(broker.url);
  await publisher.publishAsync(topic, 'marker', { qos: 1 });
  await publisher.endAsync();
  await waitFor('the marker behind the held messages', () => (markerSeen ? true : undefined), 20_000, 20);
  await client.endAsync();
  return received;
}

const sourceConfig = (url: string, clientId: string, filter: string) =>
  loadConfig({ MQTT_URL: url, MQTT_CLIENT_ID: clientId, MQTT_TOPICS: filter }, noFiles).mqtt;

describe('MQTT source acknowledgements (Mosquitto)', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('a stop right after a turn\'s last message: its deferred PUBACK leaves before DISCONNECT; the broker keeps exactly the messages not taken', async () => {
    const clientId = 'source-stop-turn';
    const filter = 'stopturn/#';
    const topic = 'stopturn/m';
    // The session exists (and subscribes) before the messages are published, so the broker queues them all.
    await (await resumeSession(broker.url, clientId, filter, () => {})).endAsync();
    const count = 40;
    const publisher = await connectPublisher(broker.url);
    await publishAll(publisher, Array.from({ length: count }, (_, i) => ({ topic, payload: String(i) })));
    await publisher.endAsync();

    // A budget of one message a turn makes every message its turn's last,
    // whose PUBACK is deferred to the turn's end: how many messages one
    // socket read holds (the broker's and the machine's business) no longer
    // decides whether the test reaches that case. The sink stops the source
    // just after the third message is taken, as a SIGTERM arriving between
    // that message and its turn's end would.
    const stopAfter = 3;
    const taken: string[] = [];
    let stopped: Promise<void> | undefined;
    const { log } = capturingLog();
    const sink: MessageSink = {
      accept(message: InboundMessage) {
        taken.push(message.payload.toString());
        if (taken.length === stopAfter) queueMicrotask(() => {
          stopped = source.stop();
        });
        return undefined;
      },
    };
    const source = new MqttSource(sourceConfig(broker.url, clientId, filter), sink, log, { messagesPerTurn: 1 });
    source.start();
    await waitFor(`the stop after message ${stopAfter}`, () => (stopped === undefined ? undefined : true), 20_000, 10);
    await stopped;
    // The pump waits for each deferred acknowledgement, so nothing is handed over after the stop.
    assert.deepEqual(taken, ['0', '1', '2'], 'taken in order, and nothing after the stop');

    const held = await heldForSession(broker, clientId, filter, topic);
    assert.deepEqual(held, Array.from({ length: count - stopAfter }, (_, i) => String(i + stopAfter)),
      'the broker holds exactly the messages not taken: the third one\'s deferred PUBACK left before DISCONNECT');
  });

  test('a message the sink refuses outside shutdown (a bug): logged, the connection dropped, the broker redelivers it and it is taken', async () => {
    const clientId = 'source-refused';
    const filter = 'refused/#';
    const topic = 'refused/m';
    await (await resumeSession(broker.url, clientId, filter, () => {})).endAsync();
    const count = 50;
    const refuseOnce = '17';
    let refused = 0;
    const accepted = new Map<string, number>();
    const { log, lines } = capturingLog();
    const sink: MessageSink = {
      accept(message: InboundMessage) {
        const payload = message.payload.toString();
        if (payload === refuseOnce && refused === 0) {
          refused += 1;
          return Promise.reject(new Error('a bug in the pipeline'));
        }
        accepted.set(payload, (accepted.get(payload) ?? 0) + 1);
        return undefined;
      },
    };
    const source = new MqttSource(sourceConfig(broker.url, clientId, filter), sink, log);
    source.start();
    try {
      await waitFor('subscribed', () => (lines.some((l) => l.msg === 'subscribed') ? true : undefined), 20_000, 20);
      const publisher = await connectPublisher(broker.url);
      await publishAll(publisher, Array.from({ length: count }, (_, i) => ({ topic, payload: String(i) })));
      await publisher.endAsync();
      await waitFor(`message ${refuseOnce} redelivered and taken`, () => (accepted.has(refuseOnce) ? true : undefined), 20_000, 20);
      await waitFor(`all ${count} messages taken`, () => (accepted.size === count ? true : undefined), 20_000, 20);
    } finally {
      await source.stop();
    }
    assert.equal(refused, 1);
    const error = lines.find((l) => l.level === 50 && typeof l.msg === 'string' && /not accepted/.test(l.msg));
    assert.deepEqual({ topic: error?.topic, error: error?.error, msg: error?.msg }, {
      topic, error: 'a bug in the pipeline', msg: 'message not accepted (a bug): not acknowledging it; reconnecting so that the broker redelivers it',
    });
    assert.ok(lines.some((l) => l.msg === 'reconnecting to the MQTT broker'), 'the connection was dropped and made again');
    // Nothing is left unacknowledged in the session: no in-flight slot held.
    assert.deepEqual(await heldForSession(broker, clientId, filter, topic), []);
  });

  test('a turn whose records the log could not write (endTurn rejects): none of its PUBACKs leaves, the broker keeps all of its messages', async () => {
    const clientId = 'source-turn-refused';
    const filter = 'turnrefused/#';
    const topic = 'turnrefused/m';
    await (await resumeSession(broker.url, clientId, filter, () => {})).endAsync();
    const count = 100;
    const publisher = await connectPublisher(broker.url);
    await publishAll(publisher, Array.from({ length: count }, (_, i) => ({ topic, payload: String(i) })));
    await publisher.endAsync();

    const turn: string[] = [];
    let firstTurn: string[] | undefined;
    let deferred = true;
    let stopped: Promise<void> | undefined;
    const { log } = capturingLog();
    const sink: MessageSink = {
      accept(message: InboundMessage, _connection?: AbortSignal, atTurnEnd?: boolean) {
        if (firstTurn === undefined) {
          turn.push(message.payload.toString());
          deferred &&= atTurnEnd === true;
        }
        return undefined;
      },
      endTurn() {
        if (firstTurn !== undefined) return undefined;
        firstTurn = turn;
        // Stop at once, as a shutdown would (no reconnection that would take the messages again).
        queueMicrotask(() => {
          stopped = source.stop();
        });
        return Promise.reject(new Error('the disk refused the turn'));
      },
    };
    const source = new MqttSource(sourceConfig(broker.url, clientId, filter), sink, log);
    source.start();
    await waitFor('the first turn', () => (stopped === undefined ? undefined : true), 20_000, 10);
    await stopped;
    assert.ok(firstTurn !== undefined && firstTurn.length > 0);
    assert.equal(deferred, true, 'QoS 1 messages of a corked turn are offered for a deferred write');
    const held = await heldForSession(broker, clientId, filter, topic);
    assert.deepEqual(firstTurn.filter((payload) => !held.includes(payload)), [], 'a message of the unwritten turn was acknowledged');
  });

  test('a turn whose records wait (endTurn resolves later): its PUBACKs leave once they are written', async () => {
    const clientId = 'source-turn-waits';
    const filter = 'turnwaits/#';
    const topic = 'turnwaits/m';
    await (await resumeSession(broker.url, clientId, filter, () => {})).endAsync();
    const count = 100;
    const publisher = await connectPublisher(broker.url);
    await publishAll(publisher, Array.from({ length: count }, (_, i) => ({ topic, payload: String(i) })));
    await publisher.endAsync();

    const taken = new Set<string>();
    let waited = false;
    let written: (() => void) | undefined;
    const { log } = capturingLog();
    const sink: MessageSink = {
      accept(message: InboundMessage) {
        taken.add(message.payload.toString());
        return undefined;
      },
      endTurn() {
        if (waited) return undefined;
        waited = true;
        return new Promise<void>((resolve) => {
          written = resolve;
        });
      },
    };
    const source = new MqttSource(sourceConfig(broker.url, clientId, filter), sink, log);
    source.start();
    try {
      await waitFor('the first turn to wait', () => written, 20_000, 10);
      written!();
      await waitFor(`all ${count} messages taken`, () => (taken.size === count ? true : undefined), 20_000, 20);
    } finally {
      await source.stop();
    }
    assert.deepEqual(await heldForSession(broker, clientId, filter, topic), [], 'every message acknowledged, the waiting turn\'s too');
  });
});
