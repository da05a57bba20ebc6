// Snapshots: of one collection or of the whole storage; list, create, download, delete.

import { del, download, enc, get, post } from "../api.js";
import { bytes, h, replace, table } from "../dom.js";
import { picker } from "../picker.js";
import { attempt, confirmAction, notify } from "../ui.js";

const FULL = "__full__";

export async function render(main, name) {
  const chooser = await picker("snapshots", name, [[FULL, "(full storage snapshot)"]]);
  name = chooser.name;
  const base = name === FULL ? "/snapshots" : `/collections/${enc(name)}/snapshots`;
  const list = h("div", { id: "snapshots-list" });

  const refresh = async () => {
    const snapshots = (await get(base)).sort((a, b) => (b.creation_time ?? "").localeCompare(a.creation_time ?? ""));
    replace(list, snapshots.length === 0 ? h("p", { class: "muted empty" }, "No snapshots yet.")
      : table(["Name", "Created", "Size", "Checksum", ""], snapshots.map((s) => h("tr", { "data-snapshot": s.name },
        h("td", {}, s.name), h("td", {}, s.creation_time ?? ""), h("td", { class: "num" }, bytes(s.size)),
        h("td", { class: "muted", title: s.checksum ?? "" }, (s.checksum ?? "").slice(0, 12)),
        h("td", {},
          h("button", { type: "button", class: "small download-snapshot",
            onclick: () => attempt(() => download(`${base}/${enc(s.name)}`, s.name)) }, "Download"), " ",
          h("button", { type: "button", class: "small danger delete-snapshot write", onclick: async () => {
            if (!(await confirmAction(`Delete snapshot ${s.name}?`))) return;
            if (await attempt(() => del(`${base}/${enc(s.name)}?wait=true`)) !== null) attempt(refresh);
          } }, "Delete")))), { id: "snapshots-table" }));
  };

  const create = async () => {
    const made = await attempt(() => post(`${base}?wait=true`));
    if (made) { notify(`Created snapshot ${made.name}`); attempt(refresh); }
  };

  replace(main, h("h2", {}, "Snapshots"), h("div", { class: "row" }, chooser.element,
    h("button", { type: "button", id: "create-snapshot", class: "write", onclick: create }, "Create snapshot")), list);
  await refresh();
}
