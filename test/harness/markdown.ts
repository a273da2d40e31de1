/**
 * Just enough Markdown reading for test/unit/docs.test.ts: where the code is,
 * which anchors a page has (as GitHub makes them, with github-slugger) and
 * which links it holds, each with its line. Pure: text in, values out.
 *
 * Not a Markdown parser: ATX headings (`## …`), fenced code (``` or ~~~,
 * indented in lists too), inline code and inline links `[text](target)` /
 * `![alt](target)` are what the docs use; a construct outside these is not
 * seen (and so not checked), never wrongly flagged.
 */
import GithubSlugger from 'github-slugger';

const FENCE = /^[ \t]*(`{3,}|~{3,})/;

/** The line (1-based) of an offset in the text. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line += 1;
  return line;
}

/** The text with every fenced block's lines (fences included) blanked, line breaks kept. */
export function withoutFencedCode(text: string): string {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const match = FENCE.exec(line);
    if (fence === undefined) {
      if (match === null) return line;
      fence = match[1]!;
      return '';
    }
    if (match !== null && match[1]!.startsWith(fence[0]!) && match[1]!.length >= fence.length && line.trim() === match[1]) fence = undefined;
    return '';
  }).join('\n');
}

/** Inline code spans blanked (same length), so nothing inside them reads as a link. */
export function withoutInlineCode(text: string): string {
  return text.replace(/(`+)[^`]*?\1/g, (span) => span.replace(/[^\n]/g, ' '));
}

export interface Heading {
  readonly line: number;
  readonly text: string;
  /** The anchor GitHub gives it (`#…`), duplicates numbered `-1`, `-2` as GitHub does. */
  readonly anchor: string;
}

/** What GitHub slugs: the heading as rendered text (code and link syntax gone, emphasis markers gone). */
function renderedText(heading: string): string {
  return heading
    .replace(/\s+#+\s*$/, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(\*\*|__|\*)(\S(?:.*?\S)?)\1/g, '$2')
    .trim();
}

export function headings(text: string): Heading[] {
  const slugger = new GithubSlugger();
  const found: Heading[] = [];
  withoutFencedCode(text).split('\n').forEach((line, index) => {
    const match = /^ {0,3}#{1,6}[ \t]+(.*)$/.exec(line);
    if (match === null) return;
    const rendered = renderedText(match[1]!);
    found.push({ line: index + 1, text: rendered, anchor: slugger.slug(rendered) });
  });
  return found;
}

export interface Link {
  readonly line: number;
  readonly target: string;
}

/** Inline links and images outside code; a link's text may span lines. */
export function links(text: string): Link[] {
  const prose = withoutInlineCode(withoutFencedCode(text));
  const found: Link[] = [];
  for (const match of prose.matchAll(/!?\[(?:[^\][]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    found.push({ line: lineAt(prose, match.index), target: match[1]! });
  }
  return found;
}
