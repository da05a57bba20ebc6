// One collection: its status and counts, its whole config, the payload schema with its indexes
// (create and drop an index).

import { del, enc, get, put } from "../api.js";
import { field, h, replace, select, table } from "../dom.js";
import { attempt, confirmAction, notify, pre } from "../ui.js";
import { vectorsSummary } from "./collections.js";

const INDEX_TYPES = ["keyword", "integer", "float", "bool", "geo", "text", "datetime", "uuid"];

function schemaTable(name, schema, refresh) {
  const fields = Object.entries(schema ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (fields.length === 0) return h("p", { class: "muted" }, "No payload indexes.");
  return table(["Field", "Type", "Params", "Points", ""], fields.map(([key, info]) =>
    h("tr", { "data-field": key },
      h("td", {}, key),
      h("td", {}, info.data_type),
      h("td", {}, info.params ? JSON.stringify(info.params) : ""),
      h("td", { class: "num" }, info.points ?? ""),
      h("td", {}, h("button", { type: "button", class: "danger small write", onclick: async () => {
        if (!(await confirmAction(`Drop the index on "${key}"?`))) return;
        if (await attempt(() => del(`/collections/${enc(name)}/index/${enc(key)}?wait=true`)) !== null) {
          refresh();
        }
      } }, "Drop")))), { id: "payload-schema" });
}

function indexForm(name, refresh) {
  const key = h("input", { id: "index-field", placeholder: "payload key", required: true });
  const type = select("index-type", INDEX_TYPES, "keyword");
  const submit = async (event) => {
    event.preventDefault();
    const body = { field_name: key.value.trim(), field_schema: type.value };
    if (await attempt(() => put(`/collections/${enc(name)}/index?wait=true`, body)) !== null) {
      notify(`Indexed ${body.field_name} as ${body.field_schema}`);
      refresh();
    }
  };
  return h("form", { class: "row write", onsubmit: submit },
    field("Field", key), field("Type", type), h("button", { type: "submit" }, "Create index"));
}

export async function render(main, name) {
  const body = h("div");
  const refresh = async () => {
    const info = await get(`/collections/${enc(name)}`);
    const params = info.config.params;
    replace(body,
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", {}, h("span", { class: `status status-${info.status}` }, info.status)),
        h("dt", {}, "Points"), h("dd", { id: "detail-points" }, info.points_count),
        h("dt", {}, "Indexed vectors"), h("dd", {}, info.indexed_vectors_count),
        h("dt", {}, "Segments"), h("dd", {}, info.segments_count),
        h("dt", {}, "Vectors"), h("dd", {}, vectorsSummary(params.vectors)),
        h("dt", {}, "Shards × replication"), h("dd", {}, `${params.shard_number} × ${params.replication_factor}`)),
      h("h3", {}, "Payload schema and indexes"), schemaTable(name, info.payload_schema, () => attempt(refresh)),
      indexForm(name, () => attempt(refresh)),
      h("h3", {}, "Config"), pre(info.config));
  };
  await refresh();
  replace(main,
    h("h2", {}, h("a", { href: "#/collections" }, "Collections"), " / ", name),
    h("p", { class: "links" },
      h("a", { href: `#/points/${enc(name)}` }, "Browse points"), " · ",
      h("a", { href: `#/search/${enc(name)}` }, "Search"), " · ",
      h("a", { href: `#/cluster/${enc(name)}` }, "Shards"), " · ",
      h("a", { href: `#/snapshots/${enc(name)}` }, "Snapshots")),
    body);
}
