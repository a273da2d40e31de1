/** One handler on one message, as Ingest runs it: match, then decode with the captures. For handler unit tests. */
import type { DecodeBounds, DecodeResult, Handler, InboundMessage } from '../../ingestor/contracts.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../../ingestor/decoders/payload.ts';
import { DEFAULT_MAX_FUTURE_MS } from '../../ingestor/decoders/timestamp.ts';

/** The configuration's defaults (MAX_PAYLOAD_BYTES, TIMESTAMP_MAX_FUTURE_MS). */
export const DEFAULT_BOUNDS: DecodeBounds = { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, maxFutureMs: DEFAULT_MAX_FUTURE_MS };

export function decodeWith(handler: Handler, message: InboundMessage, bounds: Partial<DecodeBounds> = {}): DecodeResult {
  const captures = handler.match(message.topic);
  if (captures === null) throw new Error(`handler ${handler.name} does not take the topic ${JSON.stringify(message.topic)}`);
  return handler.decode(message, { captures, bounds: { ...DEFAULT_BOUNDS, ...bounds } });
}
