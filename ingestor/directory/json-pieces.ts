/**
 * The JSON text of an object made of sections (each an object given as its
 * members, or an array given as its items), encoded lazily in pieces of at
 * most `perPiece` members or items. At 100,000 devices the device
 * directory was 0.1-0.15 s of `JSON.stringify`, after 0.14-0.35 s to copy
 * the book, all in one event-loop turn; written piece by piece, with an
 * await between pieces, messages are handled in between instead.
 *
 * Pure: nothing is read from a section until the piece that holds it is
 * asked for, so a Map given as members is read as it is then (a key deleted
 * and set again meanwhile may come twice: JSON.parse keeps the later). Of
 * sections that do not change meanwhile, the text parses to what
 * `JSON.stringify` makes of the same object, and is the same text but for
 * the order of integer-like keys (an object puts those first; members come
 * here in the order given). A member whose value JSON cannot hold, such as
 * `undefined`, is left out, and such an item is `null`, as `JSON.stringify`
 * does.
 */

export type JsonSection =
  | { readonly name: string; readonly members: Iterable<readonly [string, unknown]> }
  | { readonly name: string; readonly items: Iterable<unknown> };

export function* jsonPieces(sections: readonly JsonSection[], perPiece: number): Generator<string, void, undefined> {
  if (!Number.isInteger(perPiece) || perPiece < 1) throw new RangeError(`jsonPieces: perPiece must be a positive integer, got ${perPiece}`);
  let piece = '{';
  let inPiece = 0;
  for (const [index, section] of sections.entries()) {
    const isObject = 'members' in section;
    piece += `${index === 0 ? '' : ','}${JSON.stringify(section.name)}:${isObject ? '{' : '['}`;
    let first = true;
    for (const text of isObject ? encodedMembers(section.members) : encodedItems(section.items)) {
      piece += first ? text : `,${text}`;
      first = false;
      inPiece += 1;
      if (inPiece === perPiece) {
        yield piece;
        piece = '';
        inPiece = 0;
      }
    }
    piece += isObject ? '}' : ']';
  }
  yield `${piece}}\n`;
}

function* encodedMembers(members: Iterable<readonly [string, unknown]>): Generator<string> {
  for (const [key, value] of members) {
    // JSON.stringify's type says string; it returns undefined for undefined, a function or a symbol.
    const text: string | undefined = JSON.stringify(value);
    if (text !== undefined) yield `${JSON.stringify(key)}:${text}`;
  }
}

function* encodedItems(items: Iterable<unknown>): Generator<string> {
  for (const item of items) {
    const text: string | undefined = JSON.stringify(item);
    yield text ?? 'null';
  }
}
