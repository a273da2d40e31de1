/**
 * EMQX 5 presence events: `$SYS/brokers/{node}/clients/{clientid}/connected`
 * and `/disconnected`, JSON with `clientid`, `ipaddress`, `connected_at`, `ts`,
 * and for disconnects `reason` and `disconnected_at` (epoch ms). A message →
 * one presence event; no points. Pure.
 * The client id is read from the payload: a topic level cannot hold every id.
 */
import type { PresenceEvent } from '../presence/event.ts';
import { isPlainObject, parseJson, payloadText } from './payload.ts';
import { resolveTimestampMs } from './timestamp.ts';
import { reject, type DecodeBounds, type DecodeResult, type Handler } from '../contracts.ts';

const TOPIC = /^\$SYS\/brokers\/[^/]+\/clients\/.+\/(connected|disconnected)$/;
/** Reasons meaning the session moved to another connection, not that the device left. */
const SESSION_MOVED = new Set(['takenover', 'discarded']);
const MAX_PRESENCE_BYTES = 16 * 1024;

/**
 * The handler. Events about `ignoredClientIds` (the ingestor's own
 * connection: with a persistent session its subscription outlives a
 * reconnect, so EMQX tells it about itself), and about any client logged in
 * as one of `serviceUsers` (the stack's own users that are never a device:
 * `monitor`, `commander`; EMQX puts the login's `username` in every event,
 * apps/emqx/src/emqx_sys.erl at v5.8.6), are taken and write nothing. A
 * gateway user's clients are judged later (pipeline/ingest.ts): the event
 * carries `username` for that.
 */
export function createEmqxPresenceHandler(ignoredClientIds: ReadonlySet<string> = new Set(), serviceUsers: ReadonlySet<string> = new Set()): Handler {
  return {
    name: 'presence-emqx',
    match: (topic) => {
      const kind = TOPIC.exec(topic)?.[1];
      return kind === undefined ? null : { kind };
    },
    decode: (message, { captures, bounds }) => decode(message.payload, captures.kind === 'connected', message.receivedAtMs, bounds, ignoredClientIds, serviceUsers),
  };
}

export const emqxPresenceHandler: Handler = createEmqxPresenceHandler();

function decode(payload: Buffer, online: boolean, receivedAtMs: number, bounds: DecodeBounds, ignoredClientIds: ReadonlySet<string>, serviceUsers: ReadonlySet<string>): DecodeResult {
  const text = payloadText(payload, Math.min(MAX_PRESENCE_BYTES, bounds.maxPayloadBytes));
  if (!text.ok) return text;
  const json = parseJson(text.text);
  if (!json.ok) return json;
  if (!isPlainObject(json.value)) return reject('bad_presence', 'EMQX presence payload is not a JSON object');
  const body = json.value;
  const { clientid, username, ipaddress, connected_at: connectedAt, disconnected_at: disconnectedAt, ts, reason } = body;
  if (typeof clientid !== 'string' || clientid === '') return reject('bad_presence', 'EMQX presence payload has no "clientid"');
  if (ignoredClientIds.has(clientid)) return { ok: true, points: [], presence: [] };
  if (typeof username === 'string' && serviceUsers.has(username)) return { ok: true, points: [], presence: [] };
  if (typeof connectedAt !== 'number' || !Number.isFinite(connectedAt)) {
    return reject('bad_presence', 'EMQX presence payload has no numeric "connected_at"');
  }
  if (!online && reason !== undefined && typeof reason !== 'string') return reject('bad_presence', '"reason" is not text');
  const time = resolveTimestampMs(online ? connectedAt : (disconnectedAt ?? ts), receivedAtMs, bounds.maxFutureMs);
  if (!time.ok) return time;
  const why = online ? 'connected' : ((reason as string | undefined) ?? 'unknown');
  const event: PresenceEvent = {
    device: clientid,
    source: 'emqx',
    online,
    atMs: time.ms,
    reason: why,
    ...(typeof ipaddress === 'string' && ipaddress !== '' && { ip: ipaddress }),
    connectedAtMs: connectedAt,
    // EMQX writes "undefined" for a login without a user name.
    ...(typeof username === 'string' && username !== '' && username !== 'undefined' && { username }),
    ...(!online && SESSION_MOVED.has(why) && { sessionMoved: true }),
  };
  return { ok: true, points: [], presence: [event] };
}
