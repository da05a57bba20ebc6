// Collections: the list with status, points, vectors and shards; a form to create one; delete
// with a confirmation.

import { del, enc, get, put } from "../api.js";
import { field, h, replace, select, table } from "../dom.js";
import { attempt, confirmAction, notify } from "../ui.js";

export function vectorsSummary(vectors) {
  if (!vectors) return "none";
  if (typeof vectors.size === "number") return `${vectors.size} · ${vectors.distance}`;
  return Object.entries(vectors).map(([n, v]) => `${n}: ${v.size} · ${v.distance}`).join(", ");
}

function row(name, info, refresh) {
  const params = info?.config?.params ?? {};
  const remove = async () => {
    if (!(await confirmAction(`Delete collection "${name}" and all its points?`))) return;
    if (await attempt(() => del(`/collections/${enc(name)}`)) !== null) {
      notify(`Deleted collection ${name}`);
      refresh();
    }
  };
  return h("tr", { "data-collection": name },
    h("td", {}, h("a", { href: `#/collections/${enc(name)}` }, name)),
    h("td", {}, h("span", { class: `status status-${info?.status}` }, info?.status ?? "?")),
    h("td", { class: "num points-count" }, info?.points_count ?? ""),
    h("td", {}, vectorsSummary(params.vectors)),
    h("td", { class: "num" }, params.shard_number ?? ""),
    h("td", { class: "num" }, params.replication_factor ?? ""),
    h("td", {},
      h("a", { href: `#/points/${enc(name)}` }, "points"), " · ",
      h("a", { href: `#/search/${enc(name)}` }, "search"), " · ",
      h("button", { type: "button", class: "danger small delete-collection write", onclick: remove },
        "Delete")));
}

function createForm(refresh) {
  const name = h("input", { id: "new-name", required: true, placeholder: "name" });
  const size = h("input", { id: "new-size", type: "number", min: 1, value: 4, required: true });
  const distance = select("new-distance", ["Cosine", "Dot", "Euclid", "Manhattan"], "Cosine");
  const shards = h("input", { id: "new-shards", type: "number", min: 1, value: 1 });
  const replicas = h("input", { id: "new-replicas", type: "number", min: 1, value: 1 });
  const onDisk = h("input", { id: "new-on-disk", type: "checkbox" });
  const submit = async (event) => {
    event.preventDefault();
    const body = {
      vectors: { size: Number(size.value), distance: distance.value, ...(onDisk.checked ? { on_disk: true } : {}) },
      shard_number: Number(shards.value),
      replication_factor: Number(replicas.value),
    };
    const done = await attempt(() => put(`/collections/${enc(name.value.trim())}`, body));
    if (done !== null) {
      notify(`Created collection ${name.value.trim()}`);
      refresh();
    }
  };
  return h("form", { id: "create-collection", class: "card row write", onsubmit: submit },
    h("h3", {}, "New collection"),
    field("Name", name), field("Vector size", size), field("Distance", distance),
    field("Shards", shards), field("Replication", replicas), field("Vectors on disk", onDisk),
    h("button", { type: "submit", id: "create-submit" }, "Create"));
}

export async function render(main) {
  const list = h("div", { id: "collections-list" });
  const refresh = async () => {
    const names = (await get("/collections")).collections.map((c) => c.name).sort();
    const infos = await Promise.all(names.map((n) => attempt(() => get(`/collections/${enc(n)}`))));
    replace(list, names.length === 0
      ? h("p", { class: "muted empty" }, "No collections yet.")
      : table(["Name", "Status", "Points", "Vectors", "Shards", "Replication", ""],
        names.map((n, i) => row(n, infos[i], () => attempt(refresh)))));
  };
  await refresh();
  replace(main, h("h2", {}, "Collections"), list, createForm(() => attempt(refresh)));
}
