/**
 * The sink the sources feed: message → lines → batcher, rejects counted.
 * `accept()` settles when the message may be acknowledged.
 */
import type { Decoder, InboundMessage } from '../decoders/types.ts';
import type { MessageSink } from '../sources/mqtt.ts';
import type { Batcher } from './batcher.ts';
import type { RejectLog } from './rejects.ts';
import type { PipelineStats } from './stats.ts';
import { messageToLines } from './to-lines.ts';

export class Ingest implements MessageSink {
  readonly #decode: Decoder;
  readonly #batcher: Batcher;
  readonly #rejects: RejectLog;
  readonly #stats: PipelineStats;

  constructor(decode: Decoder, batcher: Batcher, rejects: RejectLog, stats: PipelineStats) {
    this.#decode = decode;
    this.#batcher = batcher;
    this.#rejects = rejects;
    this.#stats = stats;
  }

  async accept(message: InboundMessage): Promise<void> {
    this.#stats.messagesIn += 1;
    const result = messageToLines(this.#decode, message);
    if (!result.ok) {
      // A reject is acknowledged too: redelivering it would fail the same way.
      this.#rejects.record({ topic: message.topic, reason: result.reason, error: result.error });
      return;
    }
    this.#stats.pointsAccepted += result.lines.length;
    await this.#batcher.add(result.lines);
  }
}
