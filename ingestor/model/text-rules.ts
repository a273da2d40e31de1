/**
 * Small text rules shared by the decoders, the routes and the line-protocol
 * encoder, kept in one place so they cannot drift apart.
 */

/** A decimal number as devices send it in text: `21`, `-0.5`, `.5`, `1e3`. */
export const DECIMAL_NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Control characters that no line-protocol string field can carry: everything
 * below 0x20 except the tab, and DEL. Newline and carriage return end a line.
 */
// eslint-disable-next-line no-control-regex
export const UNWRITABLE_IN_STRING = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Control characters, tab included: no escape exists for them in names and tag values. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
