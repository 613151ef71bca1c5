// A shell on the Module Federation 2.0 runtime: fedplane's runtime endpoint answers what
// `init` takes (remotes with entry URLs, shared config); the shell adds each shared
// package's `lib` and loads the remote's exposed module with `loadRemote`.
import { init, loadRemote } from "@module-federation/runtime";
import * as sharedLib from "mf-e2e-lib";

const LIBS = { "mf-e2e-lib": sharedLib };
const params = new URLSearchParams(location.search);

async function start() {
  const url = `${params.get("api")}/api/v1/federation/runtime/${params.get("app")}/shell/production` +
    `?clientId=${params.get("clientId") || "browser"}`;
  const config = await (await fetch(url)).json();
  const shared = {};
  for (const [name, share] of Object.entries(config.shared)) {
    if (LIBS[name]) shared[name] = { ...share, lib: () => LIBS[name] };
  }
  init({ name: "shellmf2", remotes: config.remotes, shared });
  const root = document.getElementById("root");
  for (const remote of config.remotes) {
    const module = await loadRemote(`${remote.name}/Widget`);
    const element = document.createElement("div");
    element.id = `remote-${remote.name}`;
    element.textContent = module.render();
    root.appendChild(element);
  }
  document.body.dataset.ready = "1";
}

start().catch((error) => { document.body.dataset.error = String(error && error.stack || error); });
