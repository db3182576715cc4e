// matrix-js-sdk's Rust crypto sets up cross-signing and a key backup on the homeserver, as
// Element does on first login: bootstrapCrossSigning (device_signing/upload, then signatures
// of the device and the master key), resetKeyBackup (room_keys/version), then the megolm key
// of a message it sends is backed up (room_keys/keys). A second device of the same user then
// sees the first one as cross-signed.
// Usage: node cross_signing_backup.mjs BASE_URL
// Prints one JSON object with what the clients saw; the Python test asserts on it.
import * as sdk from "matrix-js-sdk";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("error");
const [baseUrl] = process.argv.slice(2);
const USERNAME = "jscarol";
const PASSWORD = "js-sdk cross-signing password";
setTimeout(() => {
  console.error("gave up waiting");
  process.exit(2);
}, 90_000).unref();

async function started(credentials) {
  const client = sdk.createClient({
    baseUrl,
    accessToken: credentials.access_token,
    userId: credentials.user_id,
    deviceId: credentials.device_id,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  const ready = new Promise((resolve) => {
    client.on(sdk.ClientEvent.Sync, (state) => state === "PREPARED" && resolve());
  });
  await client.startClient({ initialSyncLimit: 10 });
  await ready;
  return client;
}

const anon = sdk.createClient({ baseUrl });
let session;
try {
  await anon.registerRequest({ username: USERNAME, password: PASSWORD });
} catch (err) {
  session = err.data?.session;
}
const registered = await anon.registerRequest({
  username: USERNAME,
  password: PASSWORD,
  auth: { type: "m.login.dummy", session },
});
const first = await started(registered);
const crypto = first.getCrypto();
const out = { uia_asked: false };

await crypto.bootstrapCrossSigning({
  authUploadDeviceSigningKeys: async (makeRequest) => {
    try {
      await makeRequest(null); // the first upload needs no UIA
    } catch (err) {
      out.uia_asked = true;
      await makeRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: USERNAME },
        password: PASSWORD,
        session: err.data?.session,
      });
    }
  },
});
out.cross_signing_ready = await crypto.isCrossSigningReady();

// The client enables a new backup once it has checked that the server's copy is signed by
// its own keys (GET /room_keys/version, auth_data signatures).
const enabled = new Promise((resolve) => {
  first.on(CryptoEvent.KeyBackupStatus, (on) => on && resolve());
});
await crypto.resetKeyBackup();
await enabled;
out.backup_version = await crypto.getActiveSessionBackupVersion();

const { room_id: roomId } = await first.createRoom({
  initial_state: [
    { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
  ],
});
// Only a room the client has synced is known to be encrypted: it would send in the clear.
if (!first.getRoom(roomId)) {
  await new Promise((resolve) => {
    first.on(sdk.ClientEvent.Room, (room) => room.roomId === roomId && resolve());
  });
}
out.room_encrypted = await crypto.isEncryptionEnabledInRoom(roomId);
const sent = await first.sendMessage(roomId, { msgtype: "m.text", body: "a note to self" });
out.sent_type = (await first.fetchRoomEvent(roomId, sent.event_id)).type;
// The client backs keys up in a loop of its own (after a random delay of up to 10 s) and
// says so when nothing is left to upload; until the server counts the key, wait for that.
let info;
for (let round = 0; round < 5; round++) {
  info = await first.http.authedRequest("GET", "/room_keys/version");
  if (info.count > 0) break;
  await new Promise((resolve) => {
    const listener = (remaining) => {
      if (remaining === 0) {
        first.off(CryptoEvent.KeyBackupSessionsRemaining, listener);
        resolve();
      }
    };
    first.on(CryptoEvent.KeyBackupSessionsRemaining, listener);
  });
}
out.server_backup = { version: info.version, count: info.count };
const backedUp = await first.http.authedRequest("GET", "/room_keys/keys", { version: info.version });
out.backed_up_rooms = Object.keys(backedUp.rooms);
out.room_id = roomId;

// A second login of the same user: does it see the first device as cross-signed?
const login = await anon.loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: USERNAME },
  password: PASSWORD,
});
const second = await started(login);
const secondUsers = await second.getCrypto().getUserDeviceInfo([first.getUserId()], true);
out.second_sees_devices = [...(secondUsers.get(first.getUserId())?.keys() ?? [])].sort();
const status = await second
  .getCrypto()
  .getDeviceVerificationStatus(first.getUserId(), first.getDeviceId());
out.first_device_cross_signed = status?.signedByOwner ?? null;
out.device_ids = [first.getDeviceId(), second.getDeviceId()].sort();

first.stopClient();
second.stopClient();
console.log(JSON.stringify(out));
process.exit(0);
