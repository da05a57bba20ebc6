// The dashboard's shell: a hash router (#/view/collection) that renders one view into <main>.
// A view is a module with `render(main, collection)`; it may return a function that stops what
// it started (the cluster view's live refresh).

import { get } from "./api.js";
import { h, replace } from "./dom.js";
import { attempt, clearMessages, notify, setupKeyDialog, showError } from "./ui.js";
import * as cluster from "./views/cluster.js";
import * as collection from "./views/collection.js";
import * as collections from "./views/collections.js";
import * as points from "./views/points.js";
import * as search from "./views/search.js";
import * as snapshots from "./views/snapshots.js";

const VIEWS = { collections, points, search, cluster, snapshots };
let stop = null;

function route() {
  const [view = "collections", name = ""] = location.hash.replace(/^#\/?/, "").split("/");
  return { view: VIEWS[view] ? view : "collections", name: decodeURIComponent(name) };
}

async function show() {
  if (stop) stop();
  stop = null;
  clearMessages();
  const { view, name } = route();
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === view);
  }
  const main = document.getElementById("main");
  main.dataset.view = view;
  replace(main, h("p", { class: "muted" }, "Loading…"));
  const module = view === "collections" && name ? collection : VIEWS[view];
  try {
    stop = (await module.render(main, name)) ?? null;
  } catch (err) {
    replace(main, h("p", { class: "muted" }, "This view could not be loaded."));
    showError(err);
  }
}

async function banner() {
  const info = await attempt(() => get("/"));
  if (info) document.getElementById("version").textContent = `${info.title} ${info.version}`;
}

// A key that may only read: the write controls (class "write") are hidden until the key changes.
window.addEventListener("tessera:read-only", () => {
  if (document.body.classList.contains("read-only")) return;
  document.body.classList.add("read-only");
  notify("This API key may only read: the page hides its write controls.", "warning");
});
window.addEventListener("unhandledrejection", (event) => showError(event.reason));
window.addEventListener("hashchange", show);
setupKeyDialog(() => {
  document.body.classList.remove("read-only");
  show();
});
banner();
show();
