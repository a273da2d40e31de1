/**
 * A denied subscription, as EMQX 5.8.6 answers it with the compose stack's
 * `authorization.deny_action = disconnect` (broker/emqx/base.hocon), and what
 * the ingestor makes of it. EMQX cannot run here: the development broker
 * (broker/dev/main.ts) stands in, and answers the way EMQX does:
 * apps/emqx/src/emqx_channel.erl (tag v5.8.6), do_check_sub_authzs/2: a
 * SUBSCRIBE holding any denied filter is `{error, {disconnect,
 * ?RC_NOT_AUTHORIZED}}`, none of its filters subscribed; handle_out/3 sends
 * DISCONNECT 0x87 to an MQTT 5 client and just closes an MQTT 3.1.1 one's
 * socket (the development broker speaks 3.1.1 only).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { makeSecret, tryConnect } from '../harness/auth.ts';
import { startIngestor, waitUntilSubscribed } from '../harness/ingestor.ts';
import { waitFor } from '../harness/process.ts';
import { DEV_BROKER_MONITOR, startDevBroker, type DevBroker } from '../harness/services.ts';

const DEVICE = { username: 'dev-a', password: makeSecret('dev-a') } as const;
/** Nothing listens there: these tests are about subscriptions; the write-ahead log keeps what arrives. */
const NO_INFLUX = { INFLUX_URL: 'http://127.0.0.1:9', INFLUX_API: 'v1', INFLUX_BUCKET: 'iot' } as const;

describe('a denied filter on the development broker (EMQX deny_action = disconnect)', () => {
  let broker: DevBroker;
  const clients: MqttClient[] = [];

  async function connect(credentials: { username: string; password: string }, clientId: string, clean = true): Promise<MqttClient> {
    const client = await tryConnect(broker.url, { ...credentials, clientId, clean, protocolVersion: 4 });
    if (client instanceof Error) throw new Error(`${credentials.username} could not connect: ${client.message}`);
    clients.push(client);
    return client;
  }

  before(async () => {
    broker = await startDevBroker([{ ...DEVICE, role: 'device' }]);
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await broker.stop();
  });

  test('a SUBSCRIBE holding one denied filter closes the connection, and none of its filters is subscribed, not even the allowed one', async () => {
    const clientId = 'monitor-persistent';
    const first = await connect(DEV_BROKER_MONITOR, clientId, false);
    const closed = new Promise<'closed'>((resolve) => first.once('close', () => resolve('closed')));
    const answer = await Promise.race([
      // mqtt.js rejects a SUBACK with a failure code too, with the packet: that is an answer, not a disconnection.
      first.subscribeAsync(['sensors/+/+/telemetry', 'industrial/#'], { qos: 1 }).then(
        (granted) => `SUBACK ${JSON.stringify(granted.map((grant) => grant.qos))}`,
        (error: { packet?: { granted?: number[] } }) => (error.packet === undefined ? 'failed' : `SUBACK ${JSON.stringify(error.packet.granted)}`),
      ),
      closed,
    ]);
    assert.ok(answer === 'closed' || answer === 'failed', `no SUBACK: ${answer}`);
    await closed;

    // The same session again: had the allowed filter been kept, a reading would reach it.
    const again = await connect(DEV_BROKER_MONITOR, clientId, false);
    const received: string[] = [];
    again.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
    await again.subscribeAsync('sensors/+/+/status', { qos: 1 });
    const device = await connect(DEVICE, 'dev-a');
    await device.publishAsync('sensors/lab/dev-a/telemetry', '{"temperature":1.5}', { qos: 1 });
    await device.publishAsync('sensors/lab/dev-a/status', 'online', { qos: 1 });
    await waitFor('the status marker', () => (received.includes('sensors/lab/dev-a/status online') ? true : undefined));
    assert.deepEqual(received, ['sensors/lab/dev-a/status online'], 'the telemetry filter of the refused SUBSCRIBE was not subscribed');
  });

  test('an allowed SUBSCRIBE is answered with a SUBACK, one denied alone closes the connection', async () => {
    const client = await connect(DEVICE, 'dev-a-reader');
    assert.deepEqual((await client.subscribeAsync('sensors/+/dev-a/commands/#', { qos: 1 })).map((grant) => grant.qos), [1]);
    const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
    const answer = await Promise.race([
      client.subscribeAsync('sensors/#', { qos: 1 }).then(() => 'SUBACK', (error: { packet?: unknown }) => (error.packet === undefined ? 'failed' : 'SUBACK')),
      closed,
    ]);
    assert.notEqual(answer, 'SUBACK');
    assert.equal(await closed, 'closed');
  });

  test('SPARKPLUG=true with the shipped ACL: the ingestor subscribes to every filter, on one connection', async () => {
    const ingestor = startIngestor({
      MQTT_URL: broker.url, MQTT_USERNAME: DEV_BROKER_MONITOR.username, MQTT_PASSWORD: DEV_BROKER_MONITOR.password,
      MQTT_CLIENT_ID: 'ingestor-sparkplug', MQTT_PROTOCOL_VERSION: '4', SPARKPLUG: 'true', PRESENCE_EMQX: 'true', ...NO_INFLUX,
    });
    try {
      await waitUntilSubscribed(ingestor, ['sensors/+/+/telemetry', 'sensors/+/+/status', 'spBv1.0/#', '$SYS/brokers/+/clients/+/connected', '$SYS/brokers/+/clients/+/disconnected']);
      const lines = ingestor.logLines();
      assert.equal(lines.filter((line) => line.msg === 'connected to the MQTT broker').length, 1);
      assert.deepEqual(lines.filter((line) => line.level === 50 || line.level === 40).map((line) => line.msg).filter((msg) => String(msg).includes('subscri')), []);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
    }
  });

  test('a filter outside the ACL: one error line naming the filter and MQTT_TOPICS; the other filters are subscribed and the reconnecting stops', async () => {
    const ingestor = startIngestor({
      MQTT_URL: broker.url, MQTT_USERNAME: DEV_BROKER_MONITOR.username, MQTT_PASSWORD: DEV_BROKER_MONITOR.password,
      MQTT_CLIENT_ID: 'ingestor-denied', MQTT_PROTOCOL_VERSION: '4',
      MQTT_TOPICS: 'sensors/+/+/status,industrial/#,sensors/+/+/telemetry', ...NO_INFLUX,
    });
    try {
      const denial = await ingestor.waitForLog('the denied filter named', (line) => line.level === 50 && line.topic === 'industrial/#');
      assert.match(String(denial.msg), /industrial\/#.*check the broker's ACL for MQTT_USERNAME.*MQTT_TOPICS/);
      // After the denial: a connection that subscribes to the rest, and stays.
      await ingestor.waitForLog('subscribed to the last filter after the denial', (line) => line.msg === 'subscribed' && line.topic === 'sensors/+/+/telemetry' && (line.time as number) >= (denial.time as number));
      const lines = ingestor.logLines();
      assert.equal(lines.filter((line) => line.level === 50 && String(line.msg).includes('industrial/#')).length, 1, 'one error line');
      // MQTT 3.1.1: the broker says nothing, so the same filter is cut twice before it is taken for denied.
      assert.equal(lines.filter((line) => line.msg === 'connected to the MQTT broker').length, 3);
    } finally {
      await ingestor.stop();
      ingestor.cleanup();
    }
  });
});
