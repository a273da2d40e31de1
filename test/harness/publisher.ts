/** Publishes test messages through a real broker with mqtt.js, bounded in flight. */
import mqtt, { type MqttClient } from 'mqtt';

export interface OutgoingMessage {
  readonly topic: string;
  readonly payload: string | Buffer;
}

export async function connectPublisher(url: string, clientId = `test-publisher-${process.pid}-${Math.random().toString(16).slice(2, 8)}`): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, protocolVersion: 5 });
}

/**
 * Publishes every message at QoS 1 and resolves when the broker acknowledged
 * all of them; at most `window` are unacknowledged at once.
 */
export async function publishAll(client: MqttClient, messages: Iterable<OutgoingMessage>, window = 200, qos: 0 | 1 | 2 = 1): Promise<number> {
  // A publisher that loses its connection fails the test instead of hanging it.
  let onClose: () => void = () => {};
  const closed = new Promise<never>((_, reject) => {
    onClose = () => reject(new Error('the publisher was disconnected by the broker'));
    client.once('close', onClose);
  });
  closed.catch(() => {});
  const inFlight = new Set<Promise<unknown>>();
  let count = 0;
  try {
    for (const message of messages) {
      const publish = client.publishAsync(message.topic, message.payload, { qos }).finally(() => inFlight.delete(publish));
      inFlight.add(publish);
      count += 1;
      if (inFlight.size >= window) await Promise.race([...inFlight, closed]);
    }
    await Promise.race([Promise.all(inFlight), closed]);
  } finally {
    client.removeListener('close', onClose);
  }
  return count;
}
