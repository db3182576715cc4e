// matrix-js-sdk as a client of the homeserver: register, log in, whoami, devices, logout.
// Usage: node account_flow.mjs BASE_URL USERNAME PASSWORD
// Prints one JSON object with what it saw; the Python test asserts on it.
import * as sdk from "matrix-js-sdk";

const [baseUrl, username, password] = process.argv.slice(2);
const out = {};

const anon = sdk.createClient({ baseUrl });
let registered;
try {
  await anon.registerRequest({ username, password });
} catch (err) {
  // The first call answers 401 with a UIA session; complete the dummy stage.
  const session = err.data?.session;
  registered = await anon.registerRequest({
    username,
    password,
    auth: { type: "m.login.dummy", session },
  });
}
out.registered_user_id = registered.user_id;

const login = await anon.loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: username },
  password,
  initial_device_display_name: "js-sdk test",
});
out.login_user_id = login.user_id;
out.login_device_id = login.device_id;

const client = sdk.createClient({
  baseUrl,
  accessToken: login.access_token,
  userId: login.user_id,
  deviceId: login.device_id,
});
const who = await client.whoami();
out.whoami = who.user_id;
const devices = await client.getDevices();
out.devices = devices.devices.map((d) => ({ device_id: d.device_id, display_name: d.display_name }));
await client.logout(true);
try {
  await client.whoami();
  out.after_logout = "still valid";
} catch (err) {
  out.after_logout = err.errcode ?? String(err);
}
console.log(JSON.stringify(out));
