/**
 * Device-side presence: `sensors/{location}/{device}/status`, retained, set by
 * the device's birth message and its last will. Payloads: `online` / `offline`,
 * `1` / `0`, `true` / `false`, or JSON `{"online": true, "reason": "…", "ts": …}`.
 * A message → one presence event; no points. Pure.
 *
 * The layout lives here only: the default subscription (config.ts) and the
 * topic match below both come from STATUS_TOPIC_FILTER.
 */
import type { PresenceEvent } from '../presence/event.ts';
import { isPlainObject, parseJson, payloadText } from './payload.ts';
import { resolveTimestampMs } from './timestamp.ts';
import { reject, type DecodeResult, type Handler } from '../contracts.ts';

/** The status topics' MQTT filter: `sensors/{location}/{device}/status`. */
export const STATUS_TOPIC_FILTER = 'sensors/+/+/status';
const [ROOT, , , LEAF] = STATUS_TOPIC_FILTER.split('/');

const WORDS: Readonly<Record<string, boolean>> = { online: true, offline: false, '1': true, '0': false, true: true, false: false };
const MAX_STATUS_BYTES = 4096;

function matchStatusTopic(topic: string): { location: string; device: string } | null {
  const levels = topic.split('/');
  if (levels.length !== 4 || levels[0] !== ROOT || levels[3] !== LEAF) return null;
  return { location: levels[1] as string, device: levels[2] as string };
}

export const statusPresenceHandler: Handler = {
  name: 'presence-status',
  match: matchStatusTopic,
  decode(message, { captures, bounds }): DecodeResult {
    const text = payloadText(message.payload, Math.min(MAX_STATUS_BYTES, bounds.maxPayloadBytes));
    if (!text.ok) return text;
    const word = text.text.trim().toLowerCase();
    let online = WORDS[word];
    let reason = 'status';
    let rawTime: unknown;
    if (online === undefined) {
      const json = parseJson(text.text);
      const body = json.ok && isPlainObject(json.value) ? json.value : undefined;
      const flag = body?.online;
      if (flag !== true && flag !== false && flag !== 1 && flag !== 0) {
        return reject('bad_presence', `status payload ${JSON.stringify(text.text.slice(0, 40))} is not online/offline, 1/0, true/false or {"online": …}`);
      }
      online = flag === true || flag === 1;
      if (typeof body?.reason === 'string' && body.reason !== '') reason = body.reason;
      rawTime = body?.ts ?? body?.timestamp;
    }
    const time = resolveTimestampMs(rawTime, message.receivedAtMs, bounds.maxFutureMs);
    if (!time.ok) return time;
    const event: PresenceEvent = {
      device: captures.device as string,
      location: captures.location,
      source: 'lwt',
      online,
      atMs: time.ms,
      reason,
      ...(rawTime !== undefined && { timeFromPayload: true }),
      ...(message.retained === true && { retained: true }),
    };
    return { ok: true, points: [], presence: [event] };
  },
};
