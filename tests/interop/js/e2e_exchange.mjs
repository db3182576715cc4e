// matrix-js-sdk with its Rust crypto (matrix-sdk-crypto-wasm) as alice and bob in an
// encrypted room: alice's message reaches bob encrypted and bob's client decrypts it.
// Usage: node e2e_exchange.mjs BASE_URL
// Prints one JSON object with what bob saw; the Python test asserts on it.
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("error");
const [baseUrl] = process.argv.slice(2);
const PASSWORD = "js-sdk e2e password";
const TEXT = "the biscuits are in the blue tin";
// A safety net against a hang, not a timing assertion: the Python side reports the failure.
setTimeout(() => {
  console.error("gave up waiting");
  process.exit(2);
}, 60_000).unref();

async function register(username) {
  const anon = sdk.createClient({ baseUrl });
  let session;
  try {
    await anon.registerRequest({ username, password: PASSWORD });
  } catch (err) {
    session = err.data?.session;
  }
  const done = await anon.registerRequest({
    username,
    password: PASSWORD,
    auth: { type: "m.login.dummy", session },
  });
  const client = sdk.createClient({
    baseUrl,
    accessToken: done.access_token,
    userId: done.user_id,
    deviceId: done.device_id,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  const ready = new Promise((resolve) => {
    client.on(sdk.ClientEvent.Sync, (state) => state === "PREPARED" && resolve());
  });
  await client.startClient({ initialSyncLimit: 10 });
  await ready;
  return client;
}

function until(client, event, test) {
  return new Promise((resolve) => {
    const listener = (...args) => {
      const found = test(...args);
      if (found !== undefined) {
        client.off(event, listener);
        resolve(found);
      }
    };
    client.on(event, listener);
  });
}

const alice = await register("jsalice");
const bob = await register("jsbob");

const bobInvited = until(bob, sdk.RoomMemberEvent.Membership, (_e, member) =>
  member.userId === bob.getUserId() && member.membership === "invite" ? member.roomId : undefined,
);
const { room_id: roomId } = await alice.createRoom({
  invite: [bob.getUserId()],
  initial_state: [
    { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
  ],
});
await bobInvited;
const aliceSeesBob = until(alice, sdk.RoomMemberEvent.Membership, (_e, member) =>
  member.roomId === roomId && member.userId === bob.getUserId() && member.membership === "join"
    ? true
    : undefined,
);
await bob.joinRoom(roomId);
await aliceSeesBob;

const decrypted = new Promise((resolve) => {
  const check = (event) => {
    if (event.getRoomId() !== roomId || event.getSender() !== alice.getUserId()) return;
    if (event.isBeingDecrypted() || event.getWireType() !== "m.room.encrypted") return;
    resolve({
      wire_type: event.getWireType(),
      type: event.getType(),
      body: event.isDecryptionFailure() ? null : event.getContent().body,
      failure: event.decryptionFailureReason ?? null,
    });
  };
  bob.on(sdk.MatrixEventEvent.Decrypted, check);
});
const sent = await alice.sendMessage(roomId, { msgtype: "m.text", body: TEXT });
const seen = await decrypted;

const aliceOwn = await alice.getCrypto().getUserDeviceInfo([bob.getUserId()]);
const out = {
  room_id: roomId,
  event_id: sent.event_id,
  seen,
  alice_knows_bobs_devices: [...(aliceOwn.get(bob.getUserId())?.keys() ?? [])],
  bob_device_id: bob.getDeviceId(),
};
alice.stopClient();
bob.stopClient();
console.log(JSON.stringify(out));
process.exit(0);
