/**
 * The default route: `sensors/{location}/{device}/telemetry` with a JSON
 * object payload, e.g. `{"temperature":21.4,"humidity":45.1,"ts":1732280000000}`.
 *
 * - numbers become float fields (always float: `21` and `21.0` must not give
 *   the field two types), booleans boolean fields;
 * - `ts`, `timestamp` or `time` (the first present) is the point's time;
 * - strings, nulls, objects and arrays are not readings and are left out.
 */
import { bool, float, type FieldValue } from '../model/point.ts';
import { isPlainObject, parseJson, payloadText, DEFAULT_MAX_PAYLOAD_BYTES } from './payload.ts';
import { resolveTimestampMs, DEFAULT_MAX_FUTURE_MS } from './timestamp.ts';
import { reject, type DecodeResult, type Decoder, type InboundMessage } from './types.ts';

export const TELEMETRY_MEASUREMENT = 'telemetry';
export const DEFAULT_TELEMETRY_TOPIC = 'sensors/+/+/telemetry';
const TIMESTAMP_KEYS = ['ts', 'timestamp', 'time'] as const;

export interface TelemetryJsonOptions {
  /** @default 262144 */
  readonly maxPayloadBytes?: number;
  /** @default 86400000 */
  readonly maxFutureMs?: number;
}

/** `sensors/{location}/{device}/telemetry` → its captures, or null. */
export function matchTelemetryTopic(topic: string): { location: string; device: string } | null {
  const levels = topic.split('/');
  if (levels.length !== 4 || levels[0] !== 'sensors' || levels[3] !== 'telemetry') return null;
  return { location: levels[1] as string, device: levels[2] as string };
}

export function createTelemetryJsonDecoder(options: TelemetryJsonOptions = {}): Decoder {
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;

  return (message: InboundMessage): DecodeResult => {
    const captures = matchTelemetryTopic(message.topic);
    if (captures === null) {
      return reject('topic_unmatched', `topic does not match ${DEFAULT_TELEMETRY_TOPIC}`);
    }
    const text = payloadText(message.payload, maxPayloadBytes);
    if (!text.ok) return text;
    const json = parseJson(text.text);
    if (!json.ok) return json;
    if (!isPlainObject(json.value)) {
      return reject('not_an_object', 'payload is JSON but not an object of readings');
    }
    const body = json.value;

    const timestampKey = TIMESTAMP_KEYS.find((key) => body[key] !== undefined);
    const time = resolveTimestampMs(timestampKey && body[timestampKey], message.receivedAtMs, maxFutureMs);
    if (!time.ok) return time;

    const fields: Record<string, FieldValue> = {};
    for (const [key, value] of Object.entries(body)) {
      if (key === timestampKey) continue;
      if (typeof value === 'number') fields[key] = float(value);
      else if (typeof value === 'boolean') fields[key] = bool(value);
    }
    if (Object.keys(fields).length === 0) {
      return reject('no_fields', 'payload has no numeric or boolean readings');
    }
    return {
      ok: true,
      points: [
        {
          measurement: TELEMETRY_MEASUREMENT,
          tags: { device: captures.device, location: captures.location },
          fields,
          timestampMs: time.ms,
        },
      ],
    };
  };
}
