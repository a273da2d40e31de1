/**
 * Topic templates: the left-hand side of a route. Pure.
 *
 *   sensors/{location}/{device}/telemetry     {name} captures one level
 *   home/+/{measurement}                      +      matches one level, captures nothing
 *   industrial/{plant}/{rest#}                {name#} captures the remaining levels (last only)
 *   devices/#                                 #      matches the remaining levels (last only)
 *
 * Each template also gives the MQTT filter to subscribe to: {x} → +, {x#} → #.
 */
export interface TopicTemplate {
  readonly source: string;
  readonly filter: string;
  readonly captures: readonly string[];
  /**
   * The captures of a matching topic, or null. An empty level still matches:
   * the encoder then refuses the empty tag value with a clearer reason than
   * "no route matches".
   */
  match(topic: string): Record<string, string> | null;
}

type Level = { kind: 'literal'; text: string } | { kind: 'capture'; name: string } | { kind: 'skip' } | { kind: 'rest'; name: string | undefined };

const CAPTURE = /^\{([A-Za-z_][A-Za-z0-9_]*)(#?)\}$/;

export function compileTemplate(source: string): TopicTemplate {
  if (source === '') throw new Error('the topic template is empty');
  const parts = source.split('/');
  const levels: Level[] = parts.map((part, index) => {
    const last = index === parts.length - 1;
    if (part === '+') return { kind: 'skip' };
    if (part === '#') {
      if (!last) throw new Error(`"#" must be the last level of ${JSON.stringify(source)}`);
      return { kind: 'rest', name: undefined };
    }
    const capture = CAPTURE.exec(part);
    if (capture !== null) {
      if (capture[2] === '#') {
        if (!last) throw new Error(`{${capture[1]}#} must be the last level of ${JSON.stringify(source)}`);
        return { kind: 'rest', name: capture[1] };
      }
      return { kind: 'capture', name: capture[1] as string };
    }
    if (/[{}+#]/.test(part)) throw new Error(`level ${JSON.stringify(part)} of ${JSON.stringify(source)} is neither text, +, #, {name} nor {name#}`);
    return { kind: 'literal', text: part };
  });
  const captures = levels.flatMap((level) => ('name' in level && level.name !== undefined ? [level.name] : []));
  const duplicate = captures.find((name, i) => captures.indexOf(name) !== i);
  if (duplicate !== undefined) throw new Error(`{${duplicate}} appears twice in ${JSON.stringify(source)}`);
  const filter = levels.map((level) => (level.kind === 'literal' ? level.text : level.kind === 'rest' ? '#' : '+')).join('/');

  return {
    source,
    filter,
    captures,
    match(topic: string): Record<string, string> | null {
      const topicLevels = topic.split('/');
      const result: Record<string, string> = {};
      for (const [index, level] of levels.entries()) {
        if (level.kind === 'rest') {
          const rest = topicLevels.slice(index);
          if (rest.length === 0) return null;
          if (level.name !== undefined) result[level.name] = rest.join('/');
          return result;
        }
        const value = topicLevels[index];
        if (value === undefined) return null;
        if (level.kind === 'literal' && value !== level.text) return null;
        if (level.kind === 'capture') result[level.name] = value;
      }
      return topicLevels.length === levels.length ? result : null;
    },
  };
}
