/**
 * The development broker's access rules, the same as the compose stack's EMQX
 * acl.conf (broker/emqx/acl.conf). Pure.
 *
 * - monitor (the ingestor): subscribes to `$SYS/#` and `sensors/#`; publishes nothing.
 * - device (and anonymous devices): publishes and subscribes only under
 *   `sensors/+/{its client id}/#`.
 * - nobody else reads `$SYS/#`, and no client publishes to it.
 */
export type Role = 'monitor' | 'device';

/** `$share/{group}/{filter}` → `{filter}`. */
function unshared(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  return filter.split('/').slice(2).join('/');
}

/** True when the topic or filter lies under `sensors/{any}/{clientId}/`. */
function isOwnSensorTopic(topic: string, clientId: string): boolean {
  const levels = topic.split('/');
  return levels.length >= 4 && levels[0] === 'sensors' && levels[2] === clientId && !levels[1]!.includes('#');
}

export function mayPublish(role: Role, clientId: string, topic: string): boolean {
  if (topic.startsWith('$')) return false;
  return role === 'device' && isOwnSensorTopic(topic, clientId);
}

export function maySubscribe(role: Role, clientId: string, filter: string): boolean {
  const plain = unshared(filter);
  if (role === 'monitor') return plain === '$SYS/#' || plain.startsWith('$SYS/') || plain === 'sensors/#' || plain.startsWith('sensors/');
  return isOwnSensorTopic(plain, clientId);
}
