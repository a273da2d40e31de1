/**
 * A point as the pipeline sees it between decoding and encoding.
 *
 * Its timestamp is fixed by the decoder (from the payload or the receive
 * time) and never changes afterwards: writing the same point twice then
 * overwrites itself in InfluxDB instead of duplicating, which is what makes
 * replays safe.
 */
export type FieldValue =
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'uint'; readonly value: bigint }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'string'; readonly value: string };

export interface Point {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, FieldValue>>;
  /** Epoch milliseconds; the pipeline writes with precision `ms`. */
  readonly timestampMs: number;
}

export const float = (value: number): FieldValue => ({ kind: 'float', value });
export const bool = (value: boolean): FieldValue => ({ kind: 'bool', value });
export const str = (value: string): FieldValue => ({ kind: 'string', value });
