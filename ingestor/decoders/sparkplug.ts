/**
 * Sparkplug B: `spBv1.0/{group}/{type}/{edge}[/{device}]`, protobuf payloads
 * (the protobuf schema of the Eclipse Tahu `sparkplug-payload` package; its
 * own `decodePayload` throws on some valid DataSet metrics, which would make
 * one unsupported metric cost the whole message, so values are read here from
 * the raw protobuf by their declared datatype).
 *
 * - NBIRTH / DBIRTH name every metric and may give it an alias; later
 *   NDATA / DDATA may send the alias alone. Each handler made by
 *   `createSparkplugHandler()` keeps its alias tables (one per edge node or
 *   device, replaced by each BIRTH): the only state it has, and only from the
 *   messages it decoded. Otherwise pure.
 * - Metrics become fields of `sparkplug` points (device = the device id, or the
 *   edge node id for node metrics; tags group and edge); metrics sharing a
 *   timestamp share a point. Int8–Int64 and UInt8–UInt64 become (signed)
 *   integers, all 64 bits kept exactly, never rounded through a float.
 *   Unsigned values are written as signed because InfluxDB 1.x refuses
 *   unsigned integers (measured: `10u` is "invalid number" on 1.6); a UInt64
 *   above 2^63−1 is a reject, not a silently altered value;
 *   Float/Double floats; Boolean booleans; String/Text/UUID strings;
 *   DateTime integers (epoch ms). DataSet, Bytes, File and Template metrics
 *   are not readings and are left out.
 * - BIRTH and DEATH are presence: online / offline, source "sparkplug".
 */
import Long from 'long';
import proto from 'sparkplug-payload/lib/sparkplugPayloadProto.js';
import type { FieldValue, Point } from '../model/point.ts';
import type { PresenceEvent } from '../presence/event.ts';
import { oversized } from './payload.ts';
import { resolveTimestampMs } from './timestamp.ts';
import { reject, type Captures, type DecodeBounds, type DecodeResult, type Handler, type InboundMessage, type Rejection } from '../contracts.ts';

export const SPARKPLUG_MEASUREMENT = 'sparkplug';
export const SPARKPLUG_FILTER = 'spBv1.0/#';
const TYPES = ['NBIRTH', 'NDEATH', 'DBIRTH', 'DDEATH', 'NDATA', 'DDATA', 'NCMD', 'DCMD', 'STATE'] as const;
type MessageType = (typeof TYPES)[number];
const Payload = proto.org.eclipse.tahu.protobuf.Payload;

/** Sparkplug B datatype numbers (the spec's DataType enum). */
const DATATYPE: Readonly<Record<number, string>> = {
  1: 'Int8', 2: 'Int16', 3: 'Int32', 4: 'Int64', 5: 'UInt8', 6: 'UInt16', 7: 'UInt32', 8: 'UInt64',
  9: 'Float', 10: 'Double', 11: 'Boolean', 12: 'String', 13: 'DateTime', 14: 'Text', 15: 'UUID',
};

interface SparkplugTopic {
  readonly group: string;
  readonly type: MessageType;
  readonly edge: string;
  readonly device: string | undefined;
}

/** `{group, type, edge[, device]}` of a Sparkplug B topic, or null. */
function matchSparkplugTopic(topic: string): Captures | null {
  const levels = topic.split('/');
  if (levels[0] !== 'spBv1.0' || levels.length < 4 || levels.length > 5) return null;
  const type = levels[2] as MessageType;
  if (!TYPES.includes(type)) return null;
  return { group: levels[1]!, type, edge: levels[3]!, ...(levels[4] !== undefined && { device: levels[4] }) };
}

const topicOf = (captures: Captures): SparkplugTopic => ({
  group: captures.group as string,
  type: captures.type as MessageType,
  edge: captures.edge as string,
  device: captures.device,
});

/** The key of an alias table: one per edge node, one per device. */
const aliasScope = (topic: SparkplugTopic): string => `${topic.group}/${topic.edge}${topic.device === undefined ? '' : `/${topic.device}`}`;

type AliasTable = ReadonlyMap<string, string>;

interface SparkplugResult {
  readonly ok: true;
  readonly points: Point[];
  /** Set by a BIRTH: the scope's new alias table. */
  readonly aliases?: Map<string, string>;
  readonly presence?: PresenceEvent;
}

/** A Sparkplug B handler with no alias known yet, as at start-up. */
export function createSparkplugHandler(): Handler {
  /** Metric names by alias, per edge node and device, from their last BIRTH. */
  const aliases = new Map<string, Map<string, string>>();
  return {
    name: 'sparkplug',
    match: matchSparkplugTopic,
    decode(message, { captures, bounds }): DecodeResult {
      const topic = topicOf(captures);
      const scope = aliasScope(topic);
      const decoded = decodeSparkplug(message, topic, aliases.get(scope), bounds);
      if (!decoded.ok) return decoded;
      if (decoded.aliases !== undefined) aliases.set(scope, decoded.aliases);
      return { ok: true, points: decoded.points, ...(decoded.presence !== undefined && { presence: [decoded.presence] }) };
    },
  };
}

const isLong = (value: unknown): value is Long => Long.isLong(value);
/** A protobuf uint64 (Long or number) as the exact unsigned 64-bit integer. */
const unsigned64 = (value: unknown): bigint | undefined =>
  isLong(value) ? BigInt.asUintN(64, BigInt(value.toString())) : typeof value === 'number' && Number.isInteger(value) ? BigInt.asUintN(64, BigInt(value)) : undefined;
const toNumber = (value: unknown): number | undefined => (isLong(value) ? value.toNumber() : typeof value === 'number' ? value : undefined);

/** protobufjs puts proto2 defaults (0, "") on the prototype: only own properties were sent. */
const sent = (message: object, field: string): boolean => Object.prototype.hasOwnProperty.call(message, field);

interface RawMetric {
  readonly datatype?: number | null;
  readonly intValue?: number | null;
  readonly longValue?: number | Long | null;
  readonly floatValue?: number | null;
  readonly doubleValue?: number | null;
  readonly booleanValue?: boolean | null;
  readonly stringValue?: string | null;
}

const INT64_MAX = 9223372036854775807n;
/** A UInt64 too large for a signed integer field. */
const TOO_LARGE = Symbol('too large');

/** Bit width and signedness of the integer datatypes. */
const INTEGERS: Readonly<Record<string, { bits: number; signed: boolean }>> = {
  Int8: { bits: 8, signed: true }, Int16: { bits: 16, signed: true }, Int32: { bits: 32, signed: true },
  Int64: { bits: 64, signed: true }, DateTime: { bits: 64, signed: true },
  UInt8: { bits: 8, signed: false }, UInt16: { bits: 16, signed: false }, UInt32: { bits: 32, signed: false }, UInt64: { bits: 64, signed: false },
};

/**
 * The integer a metric carries, read from whichever wire field was sent
 * (encoders differ: Tahu puts UInt32 in long_value) and reinterpreted at the
 * datatype's width, so a negative Int8 sent as uint32 0xFFFFFFFF reads -1.
 */
function integerOf(metric: RawMetric, type: string): bigint | undefined {
  const width = INTEGERS[type];
  if (width === undefined) return undefined;
  const raw = sent(metric, 'intValue') && typeof metric.intValue === 'number' ? BigInt(metric.intValue >>> 0) : sent(metric, 'longValue') ? unsigned64(metric.longValue) : undefined;
  if (raw === undefined) return undefined;
  return width.signed ? BigInt.asIntN(width.bits, raw) : BigInt.asUintN(width.bits, raw);
}

/** A metric's value by its declared datatype; undefined for what is not a reading. */
function fieldFor(metric: RawMetric): FieldValue | undefined | typeof TOO_LARGE {
  const type = DATATYPE[metric.datatype ?? 0] ?? '';
  if (type in INTEGERS) {
    const value = integerOf(metric, type);
    if (value === undefined) return undefined;
    return value > INT64_MAX ? TOO_LARGE : { kind: 'int', value };
  }
  switch (type) {
    case 'Float': case 'Double': {
      const value = type === 'Float' ? metric.floatValue : metric.doubleValue;
      return typeof value === 'number' && Number.isFinite(value) ? { kind: 'float', value } : undefined;
    }
    case 'Boolean':
      return typeof metric.booleanValue === 'boolean' ? { kind: 'bool', value: metric.booleanValue } : undefined;
    case 'String': case 'Text': case 'UUID':
      return typeof metric.stringValue === 'string' ? { kind: 'string', value: metric.stringValue } : undefined;
    default:
      return undefined;
  }
}

function decodeSparkplug(message: InboundMessage, topic: SparkplugTopic, aliases: AliasTable | undefined, bounds: DecodeBounds): SparkplugResult | Rejection {
  if (topic.type === 'STATE' || topic.type === 'NCMD' || topic.type === 'DCMD') return { ok: true, points: [] };
  const tooLarge = oversized(message.payload, bounds.maxPayloadBytes);
  if (tooLarge !== undefined) return tooLarge;
  const { maxFutureMs } = bounds;
  const device = topic.device ?? topic.edge;
  const isBirth = topic.type === 'NBIRTH' || topic.type === 'DBIRTH';
  const isDeath = topic.type === 'NDEATH' || topic.type === 'DDEATH';
  let payload;
  try {
    payload = Payload.decode(message.payload);
  } catch (error) {
    return reject('bad_sparkplug', `not a Sparkplug B payload: ${(error as Error).message}`);
  }
  const payloadTime = resolveTimestampMs(sent(payload, 'timestamp') ? toNumber(payload.timestamp) : undefined, message.receivedAtMs, maxFutureMs);
  if (!payloadTime.ok) return payloadTime;

  const presence: PresenceEvent | undefined = isBirth || isDeath
    ? { device, source: 'sparkplug', online: isBirth, atMs: payloadTime.ms, reason: topic.type.toLowerCase() }
    : undefined;
  if (isDeath) return { ok: true, points: [], ...(presence && { presence }) };

  const birthAliases = isBirth ? new Map<string, string>() : undefined;
  const byTime = new Map<number, Record<string, FieldValue>>();
  for (const metric of payload.metrics ?? []) {
    const alias = sent(metric, 'alias') ? String(unsigned64(metric.alias)) : undefined;
    let name = sent(metric, 'name') ? (metric.name ?? undefined) : undefined;
    if (birthAliases !== undefined && name && alias !== undefined) birthAliases.set(alias, name);
    if (!name && alias !== undefined) name = aliases?.get(alias);
    if (!name) {
      return reject('unknown_alias', `metric alias ${alias ?? '(none)'} has no name: no ${topic.device === undefined ? 'NBIRTH' : 'DBIRTH'} seen for ${aliasScope(topic)} since the ingestor started`);
    }
    if (sent(metric, 'isNull') && metric.isNull) continue;
    const field = fieldFor(metric);
    if (field === TOO_LARGE) return reject('bad_field', `metric "${name}" is a UInt64 above 2^63-1, which InfluxDB cannot store exactly as an integer`);
    if (field === undefined) continue;
    const time = sent(metric, 'timestamp') ? resolveTimestampMs(toNumber(metric.timestamp), message.receivedAtMs, maxFutureMs) : payloadTime;
    if (!time.ok) return time;
    const fields = byTime.get(time.ms) ?? {};
    fields[name] = field;
    byTime.set(time.ms, fields);
  }
  const points: Point[] = [...byTime].map(([timestampMs, fields]) => ({
    measurement: SPARKPLUG_MEASUREMENT,
    tags: { device, group: topic.group, edge: topic.edge },
    fields,
    timestampMs,
  }));
  return { ok: true, points, ...(birthAliases && { aliases: birthAliases }), ...(presence && { presence }) };
}
