// matrix-js-sdk's Rust crypto: secret storage, cross-signing and key backup across two
// devices of one user, as Element's "set up recovery" and "verify with recovery key" do.
// The first device bootstraps cross-signing and secret storage (the private keys encrypted
// into account data) with a new backup, and sends an encrypted message. A second device,
// given the recovery key, takes the cross-signing keys from secret storage, restores the
// backup from the server and decrypts the message it was never sent a key for.
// Usage: node secret_storage.mjs BASE_URL
// Prints one JSON object with what the clients saw; the Python test asserts on it.
import * as sdk from "matrix-js-sdk";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("error");
const [baseUrl] = process.argv.slice(2);
const USERNAME = "jsdave";
const PASSWORD = "js-sdk recovery password";
const TEXT = "only the backup knows";
setTimeout(() => {
  console.error("gave up waiting");
  process.exit(2);
}, 90_000).unref();

let recoveryKey; // what the user would type in on the second device
const cryptoCallbacks = {
  getSecretStorageKey: async ({ keys }) => {
    const keyId = Object.keys(keys).find((id) => id === recoveryKey?.keyId) ?? Object.keys(keys)[0];
    return recoveryKey ? [keyId, recoveryKey.privateKey] : null;
  },
  cacheSecretStorageKey: (keyId, _info, key) => {
    recoveryKey = { keyId, privateKey: key };
  },
};

async function started(credentials) {
  const client = sdk.createClient({
    baseUrl,
    accessToken: credentials.access_token,
    userId: credentials.user_id,
    deviceId: credentials.device_id,
    cryptoCallbacks,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  const ready = new Promise((resolve) => {
    client.on(sdk.ClientEvent.Sync, (state) => state === "PREPARED" && resolve());
  });
  await client.startClient({ initialSyncLimit: 10 });
  await ready;
  return client;
}

const password = async (makeRequest) => {
  try {
    await makeRequest(null);
  } catch (err) {
    await makeRequest({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: USERNAME },
      password: PASSWORD,
      session: err.data?.session,
    });
  }
};

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
const out = {};

const generated = await crypto.createRecoveryKeyFromPassphrase();
await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: password });
const backupOn = new Promise((resolve) => {
  first.on(CryptoEvent.KeyBackupStatus, (on) => on && resolve());
});
await crypto.bootstrapSecretStorage({
  createSecretStorageKey: async () => generated,
  setupNewSecretStorage: true,
  setupNewKeyBackup: true,
});
await backupOn;
out.secret_storage_ready = await crypto.isSecretStorageReady();
const accountData = async (type) => {
  const path = `/user/${encodeURIComponent(first.getUserId())}/account_data/${type}`;
  return await first.http.authedRequest("GET", path);
};
out.stored_secrets = {};
for (const type of ["m.cross_signing.master", "m.cross_signing.self_signing", "m.megolm_backup.v1"]) {
  const content = await accountData(type);
  out.stored_secrets[type] = Object.keys(content.encrypted ?? {}).length;
}

const { room_id: roomId } = await first.createRoom({
  initial_state: [
    { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
  ],
});
if (!first.getRoom(roomId)) {
  await new Promise((resolve) => {
    first.on(sdk.ClientEvent.Room, (room) => room.roomId === roomId && resolve());
  });
}
await first.sendMessage(roomId, { msgtype: "m.text", body: TEXT });
// Wait until the server holds the message's key (the client's backup loop, see
// cross_signing_backup.mjs).
for (let round = 0; round < 5; round++) {
  const info = await first.http.authedRequest("GET", "/room_keys/version");
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
first.stopClient();

// The second device: only the recovery key, typed in by the user.
recoveryKey = { keyId: null, privateKey: generated.privateKey };
const login = await anon.loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: USERNAME },
  password: PASSWORD,
});
const second = await started(login);
const crypto2 = second.getCrypto();
await crypto2.getUserDeviceInfo([second.getUserId()], true); // our own identity, from /keys/query
await crypto2.bootstrapCrossSigning({ authUploadDeviceSigningKeys: password });
out.second_cross_signing_ready = await crypto2.isCrossSigningReady();
await crypto2.loadSessionBackupPrivateKeyFromSecretStorage();
await crypto2.checkKeyBackupAndEnable();
const restored = await crypto2.restoreKeyBackup();
out.restored = { total: restored.total, imported: restored.imported };

const room = second.getRoom(roomId) ?? (await new Promise((resolve) => {
  second.on(sdk.ClientEvent.Room, (r) => r.roomId === roomId && resolve(r));
}));
const encrypted = room.getLiveTimeline().getEvents().find((e) => e.getWireType() === "m.room.encrypted");
if (encrypted && (encrypted.isBeingDecrypted() || encrypted.isDecryptionFailure())) {
  await new Promise((resolve) => {
    const check = () => !encrypted.isBeingDecrypted() && !encrypted.isDecryptionFailure() && resolve();
    encrypted.on(sdk.MatrixEventEvent.Decrypted, check);
    check();
  });
}
out.second_reads = encrypted ? encrypted.getContent().body ?? null : "no encrypted event";
// The device signs itself with the imported self-signing key (/keys/signatures/upload); the
// client learns of the signature from the device-list change in its next sync.
let status;
for (let round = 0; round < 5; round++) {
  status = await crypto2.getDeviceVerificationStatus(second.getUserId(), second.getDeviceId());
  if (status?.signedByOwner) break;
  await new Promise((resolve) => second.once(CryptoEvent.DevicesUpdated, resolve));
}
out.second_device_cross_signed = status?.signedByOwner ?? null;
second.stopClient();
console.log(JSON.stringify(out));
process.exit(0);
