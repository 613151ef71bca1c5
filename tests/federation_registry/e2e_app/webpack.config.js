// Builds with webpack 5's own ModuleFederationPlugin: the shell (no static remotes: fedplane
// gives them at runtime) and the `catalog` remote, built once per version; and a second
// shell on the MF 2.0 runtime package (@module-federation/runtime init/loadRemote).
const path = require("path");
const webpack = require("webpack");
const { ModuleFederationPlugin } = webpack.container;

const shared = { "mf-e2e-lib": { singleton: true, requiredVersion: "^1.0.0" } };

module.exports = (env) => {
  const out = env.out;
  const common = { mode: "production", context: __dirname, devtool: false, resolve: { modules: [path.join(__dirname, "node_modules"), env.nodeModules] }, resolveLoader: { modules: [env.nodeModules] } };
  const page = new (class { apply(c) { c.hooks.emit.tap("html", (comp) => {
    const html = '<!doctype html><html><body><div id="root"></div><script src="main.js"></script></body></html>';
    comp.emitAsset("index.html", new webpack.sources.RawSource(html)); }); } })();
  if (env.target === "shell-mf2") {  // no MF plugin: the MF 2.0 runtime package does the federation
    return { ...common, entry: "./shell-mf2/index.js",
      output: { path: path.join(out, "shell-mf2"), publicPath: "auto", clean: true }, plugins: [page] };
  }
  if (env.target === "shell") {
    return { ...common, entry: "./shell/index.js",
      output: { path: path.join(out, "shell"), publicPath: "auto", clean: true },
      plugins: [new ModuleFederationPlugin({ name: "shell", shared }), page] };
  }
  return { ...common, entry: "./remote/index.js",
    output: { path: path.join(out, `catalog-${env.version}`), publicPath: "auto", clean: true, uniqueName: `catalog${env.version}` },
    plugins: [new webpack.DefinePlugin({ REMOTE_VERSION: JSON.stringify(env.version) }),
              new ModuleFederationPlugin({ name: "catalog", filename: "remoteEntry.js",
                                           exposes: { "./Widget": "./remote/widget.js" }, shared })] };
};
