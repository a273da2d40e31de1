/**
 * `npm run broker`: an EMQX-compatible development broker (aedes) for demos,
 * tests and developers without Docker. It publishes EMQX 5's client presence
 * events (`$SYS/brokers/{node}/clients/{clientid}/connected|disconnected`,
 * same JSON fields, reasons `normal`, `tcp_closed`, `keepalive_timeout`,
 * `takenover`), authenticates users from a file (no anonymous clients), and
 * enforces the same ACL as the compose stack's EMQX, keyed on the user name.
 * Like EMQX's device listener (`use_username_as_clientid`), a device's client
 * id is replaced by its user name, so no device can take over another's
 * session (or the ingestor's) by choosing its client id.
 *
 * A client that breaks the ACL is disconnected, as EMQX does with the
 * compose stack's `authorization.deny_action = disconnect`: a refused publish
 * closes the connection, and so does a SUBSCRIBE holding any denied filter,
 * with none of its filters subscribed (EMQX 5.8.6,
 * apps/emqx/src/emqx_channel.erl, do_check_sub_authzs: `{error, {disconnect,
 * ?RC_NOT_AUTHORIZED}}` for the whole packet; to an MQTT 3.1.1 client,
 * handle_out(disconnect, …) just closes the socket, as aedes does here).
 *
 * What it does not do: clustering, shared subscriptions, persistence across
 * restarts (sessions live in memory), TLS, websockets, `kicked`/`discarded`.
 *
 * Environment: BROKER_HOST, BROKER_PORT, BROKER_NODE, BROKER_USERS_FILE,
 * LOG_LEVEL (settings.ts; its table in docs/configuration.md).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Aedes, type Client } from 'aedes';
import { pino } from 'pino';
import { mayPublish, maySubscribe, type Identity } from './acl.ts';
import { connectedPayload, disconnectedPayload, presenceTopic, type ConnectionInfo, type DisconnectReason } from './emqx-events.ts';
import { BROKER_SCHEMA, loadBrokerConfig, type BrokerConfig } from './settings.ts';
import { authenticate, parseUsers } from './users.ts';
import { ConfigError } from '../../common/config/schema.ts';
import { commandLine } from '../../common/cli.ts';

// --help, --version and unknown flags first: nothing is read or listened on before.
commandLine({
  name: 'dev broker',
  usage: `Usage: npm run broker   (built: node dist/broker/dev/main.js)

An EMQX-compatible development broker (aedes): EMQX 5's client presence
events on $SYS/brokers/{node}/clients/{clientid}/connected|disconnected,
users from a file, the compose stack's ACL. No clustering, shared
subscriptions, persistence across restarts or TLS. Exit codes: 0 after
SIGTERM / SIGINT, 2 bad configuration or a port in use.

Flags
`,
  schemas: [BROKER_SCHEMA],
});
let config: BrokerConfig;
try {
  config = loadBrokerConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`dev broker: invalid configuration: ${error.message}\n`);
  process.exit(2);
}
const { host, port, node, usersFile } = config;
const log = pino({ name: 'sensorflow-dev-broker', level: config.logLevel }, pino.destination({ dest: 1, sync: true }));

let users;
try {
  users = parseUsers(usersFile, readFileSync(usersFile, 'utf8'));
} catch (error) {
  process.stderr.write(`dev broker: BROKER_USERS_FILE=${JSON.stringify(usersFile)}: ${(error as Error).message}\n`);
  process.exit(2);
}

/** What we know of each live connection, for its presence events and its ACL. */
interface Session {
  identity: Identity;
  info: ConnectionInfo;
  /** Set when something other than the peer decides how the connection ends. */
  endedBy?: DisconnectReason;
}
const sessions = new WeakMap<Client, Session>();
/** Each filter of a SUBSCRIBE → that packet's filters: EMQX judges the packet as a whole. */
const subscribePackets = new WeakMap<object, readonly string[]>();
/** SUBSCRIBE packets (by their filter list) already logged as denied. */
const deniedSubscribes = new WeakSet<object>();
const pendingConnects = new WeakMap<Client, { identity: Identity | undefined; info: Omit<ConnectionInfo, 'connectedAt'> }>();

const broker = await Aedes.createBroker({
  id: node,
  heartbeatInterval: 3_600_000,
  preConnect(client, packet, callback) {
    const socket = client.conn as { remoteAddress?: string; localPort?: number };
    const identity = authenticate(users, packet.username, packet.password);
    // aedes takes the client id from the packet after this hook: a device's is its user name.
    if (identity?.role === 'device') packet.clientId = identity.username;
    pendingConnects.set(client, { identity, info: {
      clientid: packet.clientId,
      username: packet.username,
      ipaddress: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      sockport: socket.localPort ?? port,
      protoVer: packet.protocolVersion ?? 4,
      keepalive: packet.keepalive ?? 0,
      cleanStart: packet.clean ?? true,
      expiryInterval: packet.properties?.sessionExpiryInterval ?? 0,
    } });
    callback(null, true);
  },
  authenticate(client, username, _password, done) {
    const pending = pendingConnects.get(client);
    if (pending === undefined) {
      done(Object.assign(new Error('no CONNECT seen'), { returnCode: 3 as const }), false);
      return;
    }
    const { identity } = pending;
    if (identity === undefined) {
      log.warn({ clientid: client.id, username }, 'connection refused: bad username or password');
      done(Object.assign(new Error('bad username or password'), { returnCode: 4 as const }), false);
      return;
    }
    // A live connection with the same client id is about to be taken over.
    const existing = (broker as unknown as { clients: Record<string, Client | undefined> }).clients[client.id];
    const existingSession = existing === undefined ? undefined : sessions.get(existing);
    if (existingSession !== undefined) existingSession.endedBy = 'takenover';
    sessions.set(client, { identity, info: { ...pending.info, connectedAt: Date.now() } });
    done(null, true);
  },
  authorizePublish(client, packet, callback) {
    // client is null for the last will of a client already gone.
    const session = client === null ? undefined : sessions.get(client);
    if (client !== null && (session === undefined || !mayPublish(session.identity, packet.topic))) {
      log.warn({ clientid: client.id, username: session?.identity.username, topic: packet.topic }, 'publish denied by the ACL');
      callback(new Error(`not authorized to publish to ${packet.topic}`));
      return;
    }
    callback(null);
  },
  authorizeSubscribe(client, subscription, callback) {
    const session = sessions.get(client);
    const filters = subscribePackets.get(subscription) ?? [subscription.topic];
    const denied = filters.filter((filter) => session === undefined || !maySubscribe(session.identity, filter));
    if (denied.length > 0) {
      // Every filter of the packet gets the error: aedes then closes the
      // connection (its handler's error) before storing any of them.
      const packet: object = subscribePackets.get(subscription) ?? subscription;
      if (!deniedSubscribes.has(packet)) {
        deniedSubscribes.add(packet);
        log.warn({ clientid: client.id, username: session?.identity.username, denied, filters }, 'subscription denied by the ACL: disconnecting the client (deny_action = disconnect), none of its filters subscribed');
      }
      callback(new Error(`not authorized to subscribe to ${denied.join(', ')}`), null);
      return;
    }
    callback(null, subscription);
  },
});

function publishPresence(topic: string, payload: Record<string, unknown>): void {
  broker.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(payload)), qos: 0, retain: false, dup: false }, (error) => {
    if (error) log.error({ topic, error: error.message }, 'cannot publish a presence event');
  });
}

broker.on('clientReady', (client) => {
  const session = sessions.get(client);
  if (session === undefined) return;
  session.info = { ...session.info, connectedAt: Date.now() };
  publishPresence(presenceTopic(node, client.id, 'connected'), connectedPayload(session.info, Date.now()));
  log.info({ clientid: client.id, username: session.identity.username, role: session.identity.role }, 'client connected');
});

broker.on('keepaliveTimeout', (client) => {
  const session = sessions.get(client);
  if (session !== undefined) session.endedBy ??= 'keepalive_timeout';
});

broker.on('clientDisconnect', (client) => {
  const session = sessions.get(client);
  if (session === undefined) return;
  // aedes sets _disconnected when the client sent DISCONNECT.
  const clean = (client as unknown as { _disconnected?: boolean })._disconnected === true;
  const reason: DisconnectReason = session.endedBy ?? (clean ? 'normal' : 'tcp_closed');
  publishPresence(presenceTopic(node, client.id, 'disconnected'), disconnectedPayload(session.info, reason, Date.now()));
  log.info({ clientid: client.id, reason }, 'client disconnected');
});

const server = createServer((socket) => {
  const client = broker.handle(socket) as unknown as { _parser: { prependListener(event: 'packet', listener: (packet: { cmd: string; subscriptions?: { topic: string }[] }) => void): void } };
  // Before aedes handles a SUBSCRIBE: note which packet each filter belongs to.
  client._parser.prependListener('packet', (packet) => {
    if (packet.cmd !== 'subscribe' || packet.subscriptions === undefined) return;
    const filters = packet.subscriptions.map((sub) => sub.topic);
    for (const sub of packet.subscriptions) subscribePackets.set(sub, filters);
  });
});
server.listen(port, host, () => {
  const address = server.address();
  log.info({ host, port: typeof address === 'object' && address ? address.port : port, node, users: users.users.size }, 'development broker listening');
});
server.on('error', (error: NodeJS.ErrnoException) => {
  process.stderr.write(`dev broker: cannot listen on ${host}:${port} (${error.code ?? error.message})\n`);
  process.exit(2);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    broker.close(() => process.exit(0));
  });
}
