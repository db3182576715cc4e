// matrix-js-sdk's own sync loop (startClient + its event emitters) carries a two-user
// conversation in real time: invite, join, a plain and a formatted message, a reaction, an
// edit, a redaction, typing on and off, read receipts (/receipt and /read_markers); then
// `client.scrollback` pages /messages backwards to the room's creation event.
// Nothing here calls /sync itself: each user sees the other only through what js-sdk emits.
// Usage: node realtime.mjs BASE_URL [--stub-pushrules]
// --stub-pushrules: answer js-sdk's GET /pushrules/ (which startClient makes before its first
// sync, retrying until it succeeds) inside the client with an empty rule set, for a server
// that does not serve push rules yet. Nothing else is stubbed.
// Prints one "ok: ..." line per passed step and a final JSON line; on any failed expectation
// prints "FAILED: ..." to stderr and exits 1.
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const WAIT_MS = 20_000;
const PASSWORD = "js-sdk realtime password";
const HTML = "org.matrix.custom.html";

const [baseUrl, ...flags] = process.argv.slice(2);
const stubPushRules = flags.includes("--stub-pushrules");
const EMPTY_PUSH_RULES = { global: { override: [], content: [], room: [], sender: [], underride: [] } };

// js-sdk logs every sync step at debug level; keep only its errors.
logger.setLevel("error", false);
const quietLogger = logger.getChild("[realtime]");
quietLogger.setLevel("error", false);
// A known js-sdk false alarm for every brand-new room, whatever the server
// (matrix-org/matrix-js-sdk#3781, #4808): its RTC manager sees the room's state before the
// room is stored and logs "Got room state event for unknown room" at error level.
logger.getChild("[MatrixRTCSessionManager]").setLevel("silent", false);

if (!baseUrl) fail("usage: node realtime.mjs BASE_URL [--stub-pushrules]");

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

function check(condition, message, detail) {
  if (!condition) fail(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
}

function step(message) {
  console.log(`ok: ${message}`);
}

process.on("unhandledRejection", (err) => fail(`unhandled rejection: ${err?.stack ?? err}`));

/** Everything one client's sync loop emits, recorded in order, with a way to await a match. */
class Recorder {
  constructor(client, name) {
    this.client = client;
    this.name = name;
    this.seen = []; // { kind, args }
    this.syncError = null;
    this.wake = () => {};
    const record = (kind) => (...args) => {
      this.seen.push({ kind, args });
      this.wake();
    };
    client.on(sdk.RoomEvent.Timeline, record("timeline"));
    client.on(sdk.RoomEvent.MyMembership, record("my-membership"));
    client.on(sdk.RoomEvent.Redaction, record("redaction"));
    client.on(sdk.RoomEvent.Receipt, record("receipt"));
    client.on(sdk.RoomMemberEvent.Typing, record("typing"));
    client.on(sdk.ClientEvent.Sync, (state, prev, data) => {
      if (state === sdk.SyncState.Error) this.syncError = data?.error ?? "sync error";
      record("sync")(state, prev, data);
    });
  }

  /** Resolves with the index of the first record at or after `after` of `kind` whose args
   * satisfy `match`; fails the script after WAIT_MS or when the sync loop reports an error. */
  async waitFor(what, kind, match, after = 0) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      for (let i = after; i < this.seen.length; i++) {
        const { kind: k, args } = this.seen[i];
        if (k === kind && match(...args)) return { index: i, args };
      }
      if (this.syncError) fail(`${this.name}'s sync loop failed while waiting for ${what}: ${this.syncError}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        const recent = this.seen.slice(after).slice(-15).map(describe);
        fail(`${this.name} did not see ${what} within ${WAIT_MS / 1000} s; saw ${JSON.stringify(recent)}`);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

function describe({ kind, args }) {
  if (kind === "timeline" || kind === "receipt" || kind === "redaction" || kind === "typing") {
    return `${kind}:${args[0].getType()}:${args[0].getId() ?? ""}`;
  }
  return `${kind}:${String(args[0]?.roomId ?? args[0])}`;
}

async function signUp(username) {
  const anon = sdk.createClient({ baseUrl, logger: quietLogger });
  let registered;
  try {
    await anon.registerRequest({ username, password: PASSWORD });
    fail("registration without auth did not ask for user-interactive auth");
  } catch (err) {
    check(err.httpStatus === 401 && err.data?.session, "registration challenge", err.data);
    registered = await anon.registerRequest({
      username,
      password: PASSWORD,
      auth: { type: "m.login.dummy", session: err.data.session },
    });
  }
  const login = await anon.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: username },
    password: PASSWORD,
    initial_device_display_name: `${username}'s js-sdk`,
  });
  check(login.user_id === registered.user_id, "login user_id", login);
  check(login.device_id !== registered.device_id, "login makes a new device", login);
  const client = sdk.createClient({
    baseUrl,
    accessToken: login.access_token,
    userId: login.user_id,
    deviceId: login.device_id,
    logger: quietLogger,
  });
  return new Recorder(client, username);
}

/** Starts the client's sync loop and waits until its first sync is processed. */
async function started(rec, timelineLimit) {
  if (stubPushRules) rec.client.getPushRules = async () => structuredClone(EMPTY_PUSH_RULES);
  const filter = new sdk.Filter(rec.client.getUserId());
  filter.setDefinition({ room: { timeline: { limit: timelineLimit } } });
  await rec.client.startClient({ initialSyncLimit: timelineLimit, filter });
  await rec.waitFor("its first sync", "sync", (state) => state === sdk.SyncState.Prepared);
}

const isEvent = (id) => (event) => event.getId() === id;

async function main() {
  const alice = await signUp("jsalice");
  const bob = await signUp("jsbob");
  const a = alice.client;
  const b = bob.client;
  const aliceId = a.getUserId();
  const bobId = b.getUserId();
  await started(alice, 20);
  // bob's small timeline limit makes his first sync of the room "limited", so scrollback has
  // real /messages pages to fetch.
  await started(bob, 3);
  step("both sync loops prepared");

  const { room_id: roomId } = await a.createRoom({ name: "Live js", preset: sdk.Preset.PrivateChat });
  await a.invite(roomId, bobId);
  const invite = await bob.waitFor(
    "his invite",
    "my-membership",
    (room, membership) => room.roomId === roomId && membership === sdk.KnownMembership.Invite,
  );
  const invitedRoom = invite.args[0];
  check(invitedRoom.name === "Live js", "bob's invited room has its name", invitedRoom.name);
  check(
    invitedRoom.getMember(bobId)?.events.member?.getSender() === aliceId,
    "bob's invite comes from alice",
  );
  step("bob saw the invite");

  await b.joinRoom(roomId);
  await alice.waitFor(
    "bob's join",
    "timeline",
    (event, room) =>
      room?.roomId === roomId &&
      event.getType() === "m.room.member" &&
      event.getStateKey() === bobId &&
      event.getContent().membership === "join",
  );
  check(a.getRoom(roomId).getMember(bobId)?.membership === "join", "alice's room state has bob joined");
  step("alice saw bob join");

  // A plain message, alice to bob.
  const { event_id: plain } = await a.sendTextMessage(roomId, "hello bob");
  let seen = await bob.waitFor("alice's message", "timeline", isEvent(plain));
  let event = seen.args[0];
  check(event.getSender() === aliceId, "plain message sender", event.getSender());
  check(
    JSON.stringify(event.getContent()) === JSON.stringify({ msgtype: "m.text", body: "hello bob" }),
    "plain message content",
    event.getContent(),
  );
  step("bob saw alice's message");

  // A formatted message, bob to alice.
  const html = "<b>hi</b> <i>alice</i>";
  const { event_id: formatted } = await b.sendHtmlMessage(roomId, "hi alice", html);
  seen = await alice.waitFor("bob's formatted message", "timeline", isEvent(formatted));
  event = seen.args[0];
  const content = event.getContent();
  check(event.getSender() === bobId, "formatted message sender", event.getSender());
  check(
    content.msgtype === "m.text" &&
      content.body === "hi alice" &&
      content.format === HTML &&
      content.formatted_body === html,
    "formatted message content",
    content,
  );
  step("alice saw bob's formatted message");

  // alice reacts to it; bob sees the annotation, aggregated on the target.
  const { event_id: reaction } = await a.sendEvent(roomId, "m.reaction", {
    "m.relates_to": { rel_type: "m.annotation", event_id: formatted, key: "👍" },
  });
  seen = await bob.waitFor("alice's reaction", "timeline", isEvent(reaction));
  event = seen.args[0];
  check(event.getType() === "m.reaction" && event.getSender() === aliceId, "reaction type and sender");
  const relation = event.getRelation();
  check(
    relation?.rel_type === "m.annotation" && relation.event_id === formatted && relation.key === "👍",
    "reaction relation",
    relation,
  );
  const annotations = b
    .getRoom(roomId)
    .relations.getChildEventsForEvent(formatted, "m.annotation", "m.reaction");
  check(annotations?.getRelations().some((e) => e.getId() === reaction), "bob's room aggregates the reaction");
  step("bob saw alice's reaction");

  // alice edits her first message; bob's copy of it takes the new content.
  const { event_id: edit } = await a.sendMessage(roomId, {
    msgtype: "m.text",
    body: "* hello bob!",
    "m.new_content": { msgtype: "m.text", body: "hello bob!" },
    "m.relates_to": { rel_type: "m.replace", event_id: plain },
  });
  seen = await bob.waitFor("alice's edit", "timeline", isEvent(edit));
  event = seen.args[0];
  check(event.isRelation("m.replace") && event.getRelation().event_id === plain, "edit relation");
  const original = b.getRoom(roomId).findEventById(plain);
  check(original?.replacingEventId() === edit, "bob's original knows its replacement", original?.replacingEventId());
  check(original.getContent().body === "hello bob!", "bob's original shows the new content", original.getContent());
  step("bob saw alice's edit");

  // alice takes her reaction back; bob sees the redaction and his copy is redacted.
  const { event_id: redaction } = await a.redactEvent(roomId, reaction, undefined, { reason: "wrong emoji" });
  seen = await bob.waitFor("the redaction of alice's reaction", "redaction", (ev) => ev.getId() === redaction);
  event = seen.args[0];
  check(event.getAssociatedId() === reaction && event.getSender() === aliceId, "redaction target and sender");
  check(event.getContent().reason === "wrong emoji", "redaction reason", event.getContent());
  check(b.getRoom(roomId).findEventById(reaction)?.isRedacted(), "bob's copy of the reaction is redacted");
  step("bob saw the redaction");

  // bob types, then stops; alice sees both, in order.
  await b.sendTyping(roomId, true, 30_000);
  const typing = await alice.waitFor(
    "bob typing",
    "typing",
    (ev, member) => member.roomId === roomId && member.userId === bobId && member.typing,
  );
  check(
    JSON.stringify(typing.args[0].getContent().user_ids) === JSON.stringify([bobId]),
    "m.typing user_ids",
    typing.args[0].getContent(),
  );
  await b.sendTyping(roomId, false, 30_000);
  const stopped = await alice.waitFor(
    "bob stop typing",
    "typing",
    (ev, member) => member.roomId === roomId && member.userId === bobId && !member.typing,
    typing.index + 1,
  );
  check(
    JSON.stringify(stopped.args[0].getContent().user_ids) === JSON.stringify([]),
    "m.typing user_ids",
    stopped.args[0].getContent(),
  );
  step("alice saw bob start and stop typing");

  // alice reads up to the edit (POST /receipt/m.read); bob sees m.receipt.
  await a.sendReadReceipt(a.getRoom(roomId).findEventById(edit), sdk.ReceiptType.Read);
  seen = await bob.waitFor(
    "alice's read receipt",
    "receipt",
    (ev, room) => room.roomId === roomId && ev.getContent()[edit]?.["m.read"]?.[aliceId] !== undefined,
  );
  check(Number.isInteger(seen.args[0].getContent()[edit]["m.read"][aliceId].ts), "receipt ts", seen.args[0].getContent());
  check(b.getRoom(roomId).getEventReadUpTo(aliceId) === edit, "bob's room has alice read up to the edit");
  step("bob saw alice's read receipt");

  // bob reads up to the redaction through /read_markers; alice sees his receipt.
  await b.setRoomReadMarkers(roomId, redaction, b.getRoom(roomId).findEventById(redaction));
  seen = await alice.waitFor(
    "bob's read receipt",
    "receipt",
    (ev, room) => room.roomId === roomId && ev.getContent()[redaction]?.["m.read"]?.[bobId] !== undefined,
  );
  check(a.getRoom(roomId).getEventReadUpTo(bobId) === redaction, "alice's room has bob read up to the redaction");
  step("alice saw bob's read receipt (read_markers)");

  // bob scrolls back through /messages to the room's creation.
  const room = b.getRoom(roomId);
  const timeline = room.getLiveTimeline();
  check(
    timeline.getPaginationToken(sdk.EventTimeline.BACKWARDS) !== null,
    "bob's live timeline starts mid-history (limited sync)",
  );
  let pages = 0;
  while (timeline.getPaginationToken(sdk.EventTimeline.BACKWARDS) !== null) {
    check(++pages <= 50, "scrollback did not reach the start within 50 pages");
    await b.scrollback(room, 2);
  }
  const history = timeline.getEvents();
  const ids = history.map((e) => e.getId());
  check(new Set(ids).size === ids.length, "no duplicate events in bob's timeline", ids);
  check(history[0].getType() === "m.room.create", "the timeline starts at m.room.create", history[0].getType());
  check(history[0].getSender() === aliceId, "the room's creator", history[0].getSender());
  const order = [plain, formatted, reaction, edit, redaction].map((id) => ids.indexOf(id));
  check(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1])), "the conversation in order", order);
  step(`bob scrolled back ${pages} pages to m.room.create`);

  a.stopClient();
  b.stopClient();
  console.log(JSON.stringify({ room_id: roomId, scrollback_pages: pages, history: history.map((e) => e.getType()) }));
  process.exit(0);
}

main().catch((err) => fail(err?.stack ?? String(err)));
