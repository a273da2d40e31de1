/**
 * The sink the sources feed: message → lines → write-ahead log, rejects counted.
 * `accept()` settles when the message may be acknowledged: its lines are in
 * the log (or it was rejected, and redelivering it would fail the same way).
 */
import type { Decoder, InboundMessage } from '../decoders/types.ts';
import type { MessageSink } from '../sources/mqtt.ts';
import { RecordTooLargeError, type WriteAheadLog } from '../wal/wal.ts';
import type { RejectLog } from './rejects.ts';
import type { PipelineStats } from './stats.ts';
import { messageToLines } from './to-lines.ts';

export class Ingest implements MessageSink {
  readonly #decode: Decoder;
  readonly #wal: WriteAheadLog;
  readonly #rejects: RejectLog;
  readonly #stats: PipelineStats;

  constructor(decode: Decoder, wal: WriteAheadLog, rejects: RejectLog, stats: PipelineStats) {
    this.#decode = decode;
    this.#wal = wal;
    this.#rejects = rejects;
    this.#stats = stats;
  }

  async accept(message: InboundMessage): Promise<void> {
    this.#stats.messagesIn += 1;
    const result = messageToLines(this.#decode, message);
    if (!result.ok) {
      this.#rejects.record({ topic: message.topic, reason: result.reason, error: result.error });
      return;
    }
    try {
      await this.#wal.append(result.lines);
    } catch (error) {
      if (!(error instanceof RecordTooLargeError)) throw error;
      this.#rejects.record({ topic: message.topic, reason: 'payload_too_large', error: error.message });
      return;
    }
    this.#stats.pointsAccepted += result.lines.length;
  }
}
