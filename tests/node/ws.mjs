// GraphQL over WebSocket conformance checks.
//
// Usage: node ws.mjs <ws-url> <bearer-access-token>
//
// Runs a fixed sequence of checks against the WebSocket endpoint, printing one
// line per check. The first failing check ends the run with exit code 1. The
// whole run is bounded by an overall timeout.

import WebSocket from 'ws';
import { createClient } from 'graphql-ws';

const OVERALL_TIMEOUT_MS = 20_000;
const STEP_TIMEOUT_MS = 5_000;
const CLOCK_TICKS = 2;
// Longer than two clock intervals: no further event may arrive in this window
// once the subscription has been disposed.
const QUIET_PERIOD_MS = 2_500;
const KEEP_ALIVE_MS = 300;
const PONG_WINDOW_MS = 2_000;
const REQUIRED_PONGS = 2;
const FORBIDDEN_CLOSE_CODE = 4403;
const LEGACY_PROTOCOL = 'graphql-ws';

const ME_QUERY = '{ me { id kind } }';
const CLOCK_SUBSCRIPTION = 'subscription { clock(intervalSeconds: 1) { now } }';
const LEGACY_ME_QUERY = '{ me { kind } }';

// Date-time in ISO-8601 / RFC 3339 form with an explicit offset.
const ISO_8601 =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

// ---------------------------------------------------------------------------
// Generic helpers
// ---------------------------------------------------------------------------

class CheckError extends Error {}

function assert(condition, message) {
  if (!condition) throw new CheckError(message);
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Rejects with a CheckError if `promise` does not settle within `ms`.
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new CheckError(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls `predicate` until it holds or `ms` elapsed; resolves to its last value.
async function waitUntil(predicate, ms, intervalMs = 20) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() >= deadline) return false;
    await delay(intervalMs);
  }
  return true;
}

function isCloseEventLike(value) {
  return typeof value === 'object' && value !== null && 'code' in value && 'reason' in value;
}

// Human readable description of anything a check or graphql-ws can reject with.
function describeError(err) {
  if (err instanceof Error && !isCloseEventLike(err)) return err.message;
  if (Array.isArray(err)) return `GraphQL errors: ${JSON.stringify(err)}`;
  if (isCloseEventLike(err)) {
    const reason = err.reason ? ` (${err.reason})` : '';
    return `socket closed with code ${err.code}${reason}`;
  }
  if (err && typeof err.message === 'string') return err.message;
  return String(err);
}

function bearer(token) {
  return { Authorization: `Bearer ${token}` };
}

// ---------------------------------------------------------------------------
// graphql-transport-ws helpers (graphql-ws client)
// ---------------------------------------------------------------------------

function makeClient(url, connectionParams, options = {}) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: false,
    retryAttempts: 0,
    // Connection problems surface through the operations themselves.
    onNonLazyError: () => {},
    ...options,
  });
}

async function disposeClient(client) {
  try {
    await client.dispose();
  } catch {
    // The connection may already be gone; nothing left to clean up.
  }
}

// Executes a single-result operation and resolves with every result received
// before the server completed it.
function execute(client, query) {
  return new Promise((resolve, reject) => {
    const results = [];
    client.subscribe(
      { query },
      {
        next: (result) => results.push(result),
        error: reject,
        complete: () => resolve(results),
      },
    );
  });
}

// Subscribes and resolves with the first `count` results together with the
// dispose function of the subscription (still active at that point).
function takeResults(client, query, count) {
  return new Promise((resolve, reject) => {
    const results = [];
    const dispose = client.subscribe(
      { query },
      {
        next: (result) => {
          results.push(result);
          if (results.length === count) resolve({ results, dispose });
        },
        error: reject,
        complete: () =>
          reject(new CheckError(`subscription completed after ${results.length} result(s)`)),
      },
    );
  });
}

// Resolves with the first thing that happens to a subscription.
function firstOutcome(client, query) {
  return new Promise((resolve) => {
    client.subscribe(
      { query },
      {
        next: (result) => resolve({ kind: 'next', result }),
        error: (error) => resolve({ kind: 'error', error }),
        complete: () => resolve({ kind: 'complete' }),
      },
    );
  });
}

function assertNoErrors(result) {
  assert(!result.errors, `unexpected errors: ${JSON.stringify(result.errors)}`);
}

// ---------------------------------------------------------------------------
// Legacy subscriptions-transport-ws helpers (raw ws socket)
// ---------------------------------------------------------------------------

function openSocket(url, protocol) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocol);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

// Buffers incoming JSON messages so they can be awaited one by one.
// Legacy keep-alive messages ("ka") are skipped.
function messageQueue(socket) {
  const buffered = [];
  const waiters = [];
  let closed = null;

  function settle() {
    while (waiters.length && buffered.length) waiters.shift().resolve(buffered.shift());
    if (closed) {
      while (waiters.length) {
        waiters.shift().reject(new CheckError(describeError(closed)));
      }
    }
  }

  socket.on('message', (data) => {
    let message;
    try {
      message = JSON.parse(data.toString());
    } catch {
      message = { type: '<invalid JSON>', raw: data.toString() };
    }
    if (message.type === 'ka') return;
    buffered.push(message);
    settle();
  });
  socket.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    settle();
  });

  return {
    next(what) {
      const message = new Promise((resolve, reject) => {
        waiters.push({ resolve, reject });
        settle();
      });
      return withTimeout(message, STEP_TIMEOUT_MS, what);
    },
  };
}

function send(socket, message) {
  socket.send(JSON.stringify(message));
}

async function closeSocket(socket) {
  if (socket.readyState === WebSocket.CLOSED) return;
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.close(1000, 'Normal Closure');
  await withTimeout(closed, STEP_TIMEOUT_MS, 'the socket to close').catch(() => socket.terminate());
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

// a. A query over the socket returns the authenticated resident.
async function checkQuery({ primary }) {
  const results = await withTimeout(execute(primary, ME_QUERY), STEP_TIMEOUT_MS, 'the query result');
  assert(results.length === 1, `expected 1 result, got ${results.length}`);
  const [result] = results;
  assertNoErrors(result);
  const me = result.data?.me;
  assert(me?.kind === 'RESIDENT', `expected data.me.kind "RESIDENT", got ${JSON.stringify(result.data)}`);
  return `me.id=${me.id}`;
}

// b. The clock subscription ticks with increasing timestamps and stops once
//    the client unsubscribes.
async function checkClockSubscription({ primary }) {
  const { results, dispose } = await withTimeout(
    takeResults(primary, CLOCK_SUBSCRIPTION, CLOCK_TICKS),
    STEP_TIMEOUT_MS,
    `${CLOCK_TICKS} clock events`,
  );

  // Watch the raw protocol traffic from the moment we unsubscribe.
  let lateEvents = 0;
  const stopListening = primary.on('message', (message) => {
    if (message.type === 'next') lateEvents += 1;
  });
  dispose();

  const stamps = results.map((result) => {
    assertNoErrors(result);
    const now = result.data?.clock?.now;
    assert(
      typeof now === 'string' && ISO_8601.test(now) && Number.isFinite(Date.parse(now)),
      `clock.now is not an ISO-8601 date-time: ${JSON.stringify(now)}`,
    );
    return now;
  });
  for (let i = 1; i < stamps.length; i += 1) {
    assert(
      Date.parse(stamps[i]) > Date.parse(stamps[i - 1]),
      `clock.now does not strictly increase: ${stamps[i - 1]} -> ${stamps[i]}`,
    );
  }

  await delay(QUIET_PERIOD_MS);
  stopListening();
  assert(lateEvents === 0, `server sent ${lateEvents} event(s) after the client unsubscribed`);
  return stamps.join(' < ');
}

// f. A live myEvents subscription receives the event of a mutation made over HTTP.
async function checkMyEvents({ url, token }) {
  const client = makeClient(url, bearer(token));
  try {
    const received = new Promise((resolve, reject) => {
      client.subscribe(
        { query: 'subscription { myEvents { kind payload } }' },
        { next: resolve, error: reject, complete: () => reject(new Error('completed without an event')) },
      );
    });
    await delay(300);
    const httpUrl = url.replace(/^ws/, 'http');
    const response = await fetch(httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(token) },
      body: JSON.stringify({ query: 'mutation { bindPhone(code: "13800138099") { phone } }' }),
    });
    const body = await response.json();
    assert(!body.errors, `bindPhone failed: ${JSON.stringify(body)}`);
    const result = await withTimeout(received, STEP_TIMEOUT_MS, 'the myEvents event');
    assertNoErrors(result);
    const event = result.data?.myEvents;
    assert(event?.kind === 'account.phone_bound', `unexpected event ${JSON.stringify(result.data)}`);
    assert(event.payload?.phone === '138****8099', `payload not masked: ${JSON.stringify(event.payload)}`);
    return event.kind;
  } finally {
    await disposeClient(client);
  }
}

// c. The server answers client pings with pongs.
async function checkKeepAlive({ url, token }) {
  let pongs = 0;
  let closeEvent = null;
  const client = makeClient(url, bearer(token), {
    keepAlive: KEEP_ALIVE_MS,
    on: {
      // `received` is false when the client itself answers a server ping.
      pong: (received) => {
        if (received) pongs += 1;
      },
      closed: (event) => {
        closeEvent = event;
      },
    },
  });
  try {
    await waitUntil(() => pongs >= REQUIRED_PONGS || closeEvent !== null, PONG_WINDOW_MS);
    assert(
      pongs >= REQUIRED_PONGS,
      `received ${pongs} pong(s) within ${PONG_WINDOW_MS} ms, expected at least ${REQUIRED_PONGS}` +
        (closeEvent ? `; ${describeError(closeEvent)}` : ''),
    );
    return `${pongs} pongs`;
  } finally {
    await disposeClient(client);
  }
}

// d. An invalid access token makes the server close the connection with 4403
//    and the pending subscription errors.
async function checkForbidden({ url }) {
  let closeEvent = null;
  const client = makeClient(url, bearer('not-a-jwt'), {
    on: {
      closed: (event) => {
        closeEvent = event;
      },
    },
  });
  try {
    const outcome = await withTimeout(
      firstOutcome(client, CLOCK_SUBSCRIPTION),
      STEP_TIMEOUT_MS,
      'the subscription to fail',
    );
    if (outcome.kind === 'next') {
      throw new CheckError(`subscription produced a result: ${JSON.stringify(outcome.result)}`);
    }
    assert(outcome.kind === 'error', 'subscription completed instead of failing');
    await waitUntil(() => closeEvent !== null, STEP_TIMEOUT_MS);
    assert(closeEvent !== null, 'the server did not close the connection');
    assert(
      closeEvent.code === FORBIDDEN_CLOSE_CODE,
      `expected close code ${FORBIDDEN_CLOSE_CODE}, got ${describeError(closeEvent)}`,
    );
    return `closed with ${closeEvent.code}`;
  } finally {
    await disposeClient(client);
  }
}

// e. The legacy subscriptions-transport-ws protocol still works for queries.
async function checkLegacyProtocol({ url, token }) {
  const socket = await withTimeout(openSocket(url, LEGACY_PROTOCOL), STEP_TIMEOUT_MS, 'the legacy socket');
  try {
    assert(
      socket.protocol === LEGACY_PROTOCOL,
      `server selected subprotocol ${JSON.stringify(socket.protocol)}`,
    );
    const inbox = messageQueue(socket);

    send(socket, { type: 'connection_init', payload: bearer(token) });
    const ack = await inbox.next('connection_ack');
    assert(ack.type === 'connection_ack', `expected connection_ack, got ${JSON.stringify(ack)}`);

    send(socket, { id: '1', type: 'start', payload: { query: LEGACY_ME_QUERY } });
    const data = await inbox.next('the data message');
    assert(data.type === 'data' && data.id === '1', `expected data for id "1", got ${JSON.stringify(data)}`);
    assert(!data.payload?.errors, `unexpected errors: ${JSON.stringify(data.payload?.errors)}`);
    assert(
      data.payload?.data?.me?.kind === 'RESIDENT',
      `expected payload.data.me.kind "RESIDENT", got ${JSON.stringify(data.payload)}`,
    );

    const complete = await inbox.next('the complete message');
    assert(
      complete.type === 'complete' && complete.id === '1',
      `expected complete for id "1", got ${JSON.stringify(complete)}`,
    );
    return 'connection_ack, data, complete';
  } finally {
    await closeSocket(socket);
  }
}

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------

function usage() {
  console.error('usage: node ws.mjs <ws-url> <bearer-access-token>');
  process.exit(2);
}

function report(passed, failed) {
  console.log(`ws: ${passed} passed, ${failed} failed`);
}

async function main() {
  const [url, token] = process.argv.slice(2);
  if (!url || !token) usage();

  const checks = [
    ['query { me } over graphql-transport-ws', checkQuery],
    ['clock subscription ticks and stops after unsubscribe', checkClockSubscription],
    ['keep-alive ping/pong', checkKeepAlive],
    ['invalid token closes the connection with 4403', checkForbidden],
    ['legacy graphql-ws (subscriptions-transport-ws) protocol', checkLegacyProtocol],
    ['myEvents receives the event of a mutation over HTTP', checkMyEvents],
  ];

  let passed = 0;
  let current = checks[0][0];
  const overall = setTimeout(() => {
    console.log(`FAIL ${current}: overall timeout of ${OVERALL_TIMEOUT_MS / 1000} s exceeded`);
    report(passed, 1);
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);

  // Checks a and b share one authenticated client.
  const context = { url, token, primary: makeClient(url, bearer(token)) };

  for (const [name, check] of checks) {
    current = name;
    try {
      const detail = await check(context);
      console.log(`ok   ${name}${detail ? ` (${detail})` : ''}`);
      passed += 1;
    } catch (err) {
      console.log(`FAIL ${name}: ${describeError(err)}`);
      report(passed, 1);
      process.exit(1);
    }
    if (check === checkClockSubscription) await disposeClient(context.primary);
  }

  clearTimeout(overall);
  report(passed, 0);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
