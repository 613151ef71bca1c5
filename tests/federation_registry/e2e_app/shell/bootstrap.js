// A shell whose remotes come from fedplane at startup: it fetches the public runtime
// endpoint, loads each remote with webpack's dynamic-remotes protocol (script, then
// container.init(shareScope), container.get(module)), renders it, and listens for hot
// reload events on /federation/events.
import { stamp } from "mf-e2e-lib";

const params = new URLSearchParams(location.search);
const api = params.get("api");
const app = params.get("app");
const env = params.get("env") || "production";
const clientId = params.get("clientId") || "browser";

function loadScript(url) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${url}`));
    document.head.appendChild(script);
  });
}

async function loadRemote(remote) {
  await loadScript(remote.url);
  await __webpack_init_sharing__("default");
  const container = window[remote.scope];
  await container.init(__webpack_share_scopes__.default);
  const factory = await container.get(remote.modules[0]);
  return factory();
}

async function start() {
  const response = await fetch(`${api}/api/v1/federation/runtime/${app}/shell/${env}?clientId=${clientId}`);
  const config = await response.json();
  const root = document.getElementById("root");
  root.dataset.shell = stamp(config.name);
  for (const remote of config.webpack.dynamicRemotes) {
    const module = await loadRemote(remote);
    const element = document.createElement("div");
    element.id = `remote-${remote.scope}`;
    element.textContent = module.render();
    root.appendChild(element);
  }
  document.body.dataset.ready = "1";
  const socket = new WebSocket(`${api.replace(/^http/, "ws")}/federation/events?api_key=${params.get("key")}`);
  socket.onopen = () => socket.send(JSON.stringify({action: "subscribe", events: ["module.reload"],
                                                    filters: {applicationId: app}}));
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.event === "subscribed") document.body.dataset.subscribed = "1";
    if (event.event === "module.reload") {
      document.body.dataset.reloaded = `${event.data.moduleId}:${event.data.clearCache}`;
    }
  };
}

start().catch((error) => { document.body.dataset.error = String(error); });
