/**
 * The configuration tables of docs/configuration.md, generated from the schemas: one table per
 * program between `<!-- config:start NAME -->` and `<!-- config:end NAME -->`.
 * Pure: text in, text out (scripts/config-docs.ts does the file I/O).
 */
import type { Schema, Variable } from './schema.ts';

/** `|` inside a cell ends the cell in GitHub's tables, even inside backticks. */
const cell = (markdown: string): string => markdown.replace(/(?<!\\)\|/g, '\\|');

function defaultCell(variable: Variable<unknown, unknown>): string {
  if (variable.defaultDoc !== undefined) return variable.defaultDoc;
  return variable.default === undefined ? '–' : `\`${variable.default}\``;
}

function nameCell(variable: Variable<unknown, unknown>): string {
  return variable.secret === true ? `\`${variable.name}\` (or \`${variable.name}_FILE\`)` : `\`${variable.name}\``;
}

/** One Markdown table, every variable a row; no blank lines, so it renders whole. */
export function renderTable(schema: Schema): string {
  const rows = schema.variables.map((variable) => {
    const doc = variable.secret === true ? `${variable.doc}; secret: never logged` : variable.doc;
    return `| ${nameCell(variable)} | ${cell(defaultCell(variable))} | ${cell(doc)} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

export class StaleDocsError extends Error {}

const markers = (name: string): [string, string] => [`<!-- config:start ${name} -->`, `<!-- config:end ${name} -->`];

/** The page with each named block rewritten from its schema; a missing block is an error. */
export function renderBlocks(page: string, blocks: Readonly<Record<string, Schema>>): string {
  let text = page;
  for (const [name, schema] of Object.entries(blocks)) {
    const [start, end] = markers(name);
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new StaleDocsError(`docs/configuration.md: no ${start} … ${end} block for ${schema.program}`);
    text = `${text.slice(0, from + start.length)}\n${renderTable(schema)}\n${text.slice(to)}`;
  }
  return text;
}

/** Markdown as a terminal shows it: no backticks or emphasis, links as their text. */
export function plainText(markdown: string): string {
  return markdown
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\*\*([^*]+)\*\*/g, '$1')
    .replace(/\\\|/g, '|')
    .replace(/`/g, '');
}

/** One program's table for `--help`: the heading, then each variable with its default and meaning. */
export function renderPlainList(schema: Schema): string {
  const entries = schema.variables.map((variable) => {
    const name = variable.secret === true ? `${variable.name} (or ${variable.name}_FILE)` : variable.name;
    const doc = variable.secret === true ? `${variable.doc}; secret: never logged` : variable.doc;
    const fallback = defaultCell(variable);
    return `  ${name}${fallback === '–' ? '' : `   default: ${plainText(fallback)}`}\n      ${plainText(doc)}\n`;
  });
  return `${plainText(schema.program)}:\n${entries.join('')}`;
}
