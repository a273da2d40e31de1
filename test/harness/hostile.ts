/**
 * Hostile MQTT messages that the ingestor must refuse, generated from a seed.
 * Each is hostile by construction (not by asking our own decoder): random
 * bytes that cannot open a JSON object, truncated JSON, numbers no store can
 * hold, nesting bombs, reserved and injected names, bad times, oversized
 * payloads, unwritable topic levels, garbage on status topics. Topics never
 * carry control characters or wildcards: Mosquitto would drop the publisher.
 */
import { seededRandom } from '../../simulator/readings.ts';
import type { OutgoingMessage } from './publisher.ts';

export interface HostileMessage extends OutgoingMessage {
  readonly kind: string;
}

const PRESENCE_WORDS = new Set(['online', 'offline', '1', '0', 'true', 'false']);

export function hostileMessages(count: number, seed: number): HostileMessage[] {
  const random = seededRandom(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const bytes = (length: number): Buffer => Buffer.from(Array.from({ length }, () => int(256)));
  const topic = (): string => `sensors/fuzz-${int(5)}/dev-${int(50)}/telemetry`;
  const valid = (): string => JSON.stringify({ temperature: int(400) / 10, humidity: 50, ts: Date.now() - int(1000) });

  const makers: (() => HostileMessage)[] = [
    () => {
      // Random bytes that cannot start a JSON object or array.
      let payload = bytes(1 + int(64));
      while (payload[0] === 0x7b || payload[0] === 0x5b || /^\s/.test(String.fromCharCode(payload[0]!))) payload = bytes(1 + int(64));
      return { kind: 'random-bytes', topic: topic(), payload };
    },
    () => {
      const text = valid();
      return { kind: 'truncated-json', topic: topic(), payload: text.slice(0, 1 + int(text.length - 2)) };
    },
    () => ({ kind: 'huge-number', topic: topic(), payload: `{"temperature":${['1e999', '-1e400', '9'.repeat(400)][int(3)]}}` }),
    () => ({ kind: 'nesting-bomb', topic: topic(), payload: '{"a":'.repeat(1000 + int(5000)) }),
    () => {
      const depth = 10 + int(20);
      return { kind: 'deep-object', topic: topic(), payload: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` };
    },
    () => ({ kind: 'strings-only', topic: topic(), payload: JSON.stringify({ note: `\u0001${'x'.repeat(int(10))}\n"'`, state: 'hot' }) }),
    () => ({ kind: 'scalar-json', topic: topic(), payload: ['42', '"text"', 'null', 'true', '[1,2,3]', '[]', '{}'][int(7)]! }),
    () => ({ kind: 'reserved-name', topic: topic(), payload: JSON.stringify({ _measurement: 1, temperature: 1 }) }),
    () => ({ kind: 'injected-field-key', topic: topic(), payload: `{"t\\n evil=1 0\\n":1}` }),
    () => ({ kind: 'ambiguous-backslash-key', topic: topic(), payload: JSON.stringify({ [`k${'\\'.repeat(1 + int(3))}`]: 1 }) }),
    () => ({ kind: 'bad-time', topic: topic(), payload: JSON.stringify({ temperature: 1, ts: [0, -5, 'yesterday', 9e18, Date.now() + 10 * 86_400_000, '2026-13-45T99:99:99Z'][int(6)] }) }),
    () => ({ kind: 'empty-level', topic: `sensors//dev-${int(50)}/telemetry`, payload: valid() }),
    () => ({ kind: 'injected-topic-level', topic: `sensors/site${['\\', '\\,x=1', '\\ evil=1', '\\\\'][int(4)]}/dev-${int(50)}/telemetry`, payload: valid() }),
    () => ({ kind: 'trailing-backslash-device', topic: `sensors/fuzz-1/dev-${int(50)}\\/telemetry`, payload: valid() }),
    () => {
      let payload = bytes(1 + int(16)).toString('latin1');
      while (PRESENCE_WORDS.has(payload.trim().toLowerCase()) || payload.trimStart().startsWith('{')) payload = bytes(1 + int(16)).toString('latin1');
      return { kind: 'status-garbage', topic: `sensors/fuzz-${int(5)}/dev-${int(50)}/status`, payload };
    },
    () => ({ kind: 'invalid-utf8', topic: topic(), payload: Buffer.concat([Buffer.from('{"temperature":1,"x":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]) }),
  ];
  const messages: HostileMessage[] = [];
  for (let i = 0; i < count; i += 1) messages.push(makers[int(makers.length)]!());
  // A few payloads over the 256 KiB limit.
  for (let i = 0; i < Math.min(20, count); i += 1) messages[i * Math.floor(count / 20)] = { kind: 'oversized', topic: topic(), payload: Buffer.alloc(300 * 1024, 0x31) };
  return messages;
}
