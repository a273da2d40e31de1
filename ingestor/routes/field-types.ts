/**
 * A payload's value → a typed field. Pure. Numbers are floats unless the route
 * says otherwise, so `21` and `21.0` never give a field two types; strings are
 * left out unless the route declares them.
 */
import type { Scalar } from '../decoders/formats.ts';
import { reject, type Rejection } from '../contracts.ts';
import type { FieldValue } from '../model/point.ts';
import { DECIMAL_NUMBER } from '../model/text-rules.ts';

export const FIELD_TYPES = ['float', 'int', 'uint', 'bool', 'string'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, on: true, off: false, '1': true, '0': false };

const mismatch = (name: string, raw: Scalar, type: FieldType): Rejection =>
  reject('bad_field', `field "${name}" is declared ${type} but the payload has ${JSON.stringify(raw)}`);

function integer(name: string, raw: Scalar, type: 'int' | 'uint'): FieldValue | Rejection {
  let value: bigint | undefined;
  if (typeof raw === 'number' && Number.isInteger(raw) && Number.isSafeInteger(raw)) value = BigInt(raw);
  else if (typeof raw === 'string' && /^[-+]?\d{1,19}$/.test(raw.trim())) value = BigInt(raw.trim());
  if (value === undefined) return mismatch(name, raw, type);
  if (type === 'uint' && value < 0n) return mismatch(name, raw, type);
  if (type === 'int' && (value > 9223372036854775807n || value < -9223372036854775808n)) return mismatch(name, raw, type);
  return { kind: type, value };
}

/** The typed field, undefined when the value is left out (an undeclared string), or a rejection. */
export function typedField(name: string, raw: Scalar, declared: FieldType | undefined): FieldValue | undefined | Rejection {
  switch (declared) {
    case undefined:
      if (typeof raw === 'boolean') return { kind: 'bool', value: raw };
      if (typeof raw === 'string') return undefined;
      return Number.isFinite(raw) ? { kind: 'float', value: raw } : reject('bad_field', `field "${name}" is ${raw}, which InfluxDB cannot store`);
    case 'float': {
      const value = typeof raw === 'number' ? raw : typeof raw === 'string' && DECIMAL_NUMBER.test(raw.trim()) ? Number(raw) : NaN;
      return Number.isFinite(value) ? { kind: 'float', value } : mismatch(name, raw, 'float');
    }
    case 'int':
    case 'uint':
      return integer(name, raw, declared);
    case 'bool': {
      const value = typeof raw === 'boolean' ? raw : BOOLEAN_WORDS[String(raw).trim().toLowerCase()];
      return value === undefined ? mismatch(name, raw, 'bool') : { kind: 'bool', value };
    }
    case 'string':
      return { kind: 'string', value: String(raw) };
  }
}
