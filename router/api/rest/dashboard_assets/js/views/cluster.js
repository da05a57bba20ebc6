// The cluster: peers with the leader and this peer's raft term, a shard × peer grid coloured by
// replica state, the transfers in progress, refreshed live. A replica picked in the grid can be
// moved, copied or dropped, and a transfer aborted, through POST /collections/{name}/cluster.

import { enc, get, post } from "../api.js";
import { field, h, replace, select, table } from "../dom.js";
import { picker } from "../picker.js";
import { attempt, confirmAction, notify, showError } from "../ui.js";

const REFRESH_MS = 2000;

// Peer ids are kept as strings of digits (they pass 2^53) and sent as BigInt.
const byValue = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
const peerList = (status) => Object.keys(status.peers).sort(byValue);

function peersTable(status) {
  const raft = status.raft_info;
  const [leader, self] = [String(raft.leader), String(status.peer_id)];
  return table(["Peer", "URI", "Role", ""], peerList(status).map((id) => h("tr", { "data-peer": id },
    h("td", { class: "num" }, id),
    h("td", {}, status.peers[id].uri),
    h("td", { class: "role" }, id === leader ? "Leader" : (id === self ? raft.role : "Follower")),
    h("td", { class: "muted" }, id === self ? "this node" : ""))), { id: "peers-table" });
}

// {shardId: {peerId: state}} from a collection's cluster info (local and remote replicas).
export function replicaGrid(info) {
  const grid = {};
  for (let s = 0; s < (info.shard_count ?? 0); s += 1) grid[s] = {};
  for (const r of info.local_shards) (grid[r.shard_id] ??= {})[String(info.peer_id)] = r.state;
  for (const r of info.remote_shards) (grid[r.shard_id] ??= {})[String(r.peer_id)] = r.state;
  return grid;
}

function progress(comment) {
  const m = /\((\d+)\/(\d+)\)/.exec(comment ?? "");
  return m && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : null;
}

export async function render(main, name) {
  const status = await get("/cluster");
  if (status.status !== "enabled") {
    replace(main, h("h2", {}, "Cluster"),
      h("p", { id: "cluster-disabled", class: "muted" }, "This node runs alone (cluster mode is off): one peer, every shard local."));
    return null;
  }
  const chooser = await picker("cluster", name);
  name = chooser.name;
  const live = h("input", { id: "live-refresh", type: "checkbox", checked: true });
  const peers = h("div", { id: "peers" });
  const grid = h("div", { id: "shard-grid-box" });
  const actions = h("div", { id: "replica-actions", class: "card write" });
  const transfers = h("div", { id: "transfers" });
  const selected = { shard: null, peer: null };
  let peerIds = [];
  let timer = null;
  let stopped = false;

  const operate = async (what, body) => {
    if (!(await confirmAction(`${what}?`))) return;
    if (await attempt(() => post(`/collections/${enc(name)}/cluster`, body)) !== null) {
      notify(`Accepted: ${what}`);
      refresh();
    }
  };

  const drawActions = (states) => {
    const { shard, peer } = selected;
    if (shard === null || !states[shard]?.[peer]) {
      replace(actions, h("p", { class: "muted" }, "Pick a replica in the grid to move, copy or drop it."));
      return;
    }
    const others = peerIds.filter((p) => !(p in states[shard]));
    const target = select("target-peer", others, others.length ? others[0] : "");
    const to = () => target.value;
    const ids = () => ({ shard_id: shard, from_peer_id: BigInt(peer), to_peer_id: BigInt(to()) });
    const ops = {
      "move-replica": ["Move", () => operate(`Move shard ${shard} from peer ${peer} to peer ${to()}`,
        { move_shard: ids() })],
      "replicate-replica": ["Replicate", () => operate(`Copy shard ${shard} from peer ${peer} to peer ${to()}`,
        { replicate_shard: ids() })],
    };
    replace(actions,
      h("p", {}, `Shard ${shard} on peer ${peer}: `, h("strong", {}, states[shard][peer])),
      h("div", { class: "row" }, field("To peer", target),
        Object.entries(ops).map(([id, [label, run]]) =>
          h("button", { type: "button", id, disabled: others.length === 0, onclick: run }, label)),
        h("button", { type: "button", id: "drop-replica", class: "danger", onclick: () =>
          operate(`Drop the replica of shard ${shard} on peer ${peer}`, { drop_replica: { shard_id: shard, peer_id: BigInt(peer) } }) },
        "Drop replica")));
  };

  const drawGrid = (states) => {
    const shards = Object.keys(states).map(Number).sort((a, b) => a - b);
    replace(grid, table(["Shard", ...peerIds.map((p) => `peer ${p}`)], shards.map((s) => h("tr", {},
      h("th", {}, s),
      peerIds.map((p) => {
        const state = states[s][p];
        const picked = selected.shard === s && selected.peer === p;
        return h("td", { class: `cell ${state ? `state-${state}` : "empty"}${picked ? " picked" : ""}`,
          "data-shard": s, "data-peer": p, title: state ?? "no replica",
          onclick: state ? () => { Object.assign(selected, { shard: s, peer: p }); drawGrid(states); drawActions(states); } : undefined },
        state ?? "");
      }))), { id: "shard-grid" }));
  };

  const drawTransfers = (list) => {
    replace(transfers, list.length === 0 ? h("p", { class: "muted", id: "no-transfers" }, "No transfers in progress.")
      : table(["Shard", "From", "To", "Method", "Progress", ""], list.map((t) => {
        const done = progress(t.comment);
        return h("tr", { class: "transfer" },
          h("td", { class: "num" }, t.shard_id), h("td", { class: "num" }, t.from), h("td", { class: "num" }, t.to),
          h("td", {}, t.method ?? (t.sync ? "sync" : "")),
          h("td", {}, h("progress", done === null ? {} : { max: 1, value: done }), " ", h("span", { class: "muted" }, t.comment ?? "")),
          h("td", {}, h("button", { type: "button", class: "danger small abort-transfer write", onclick: () =>
            operate(`Abort the transfer of shard ${t.shard_id} from peer ${t.from} to peer ${t.to}`,
              { abort_transfer: { shard_id: t.shard_id, from_peer_id: t.from, to_peer_id: t.to } }) }, "Abort")));
      })));
  };

  const refresh = async () => {
    clearTimeout(timer);
    try {
      const now = await get("/cluster");
      peerIds = peerList(now);
      replace(peers, h("p", { id: "raft-info", class: "muted" },
        `leader: peer ${now.raft_info.leader} · term ${now.raft_info.term} · commit ${now.raft_info.commit}`),
      peersTable(now));
      if (name) {
        const info = await get(`/collections/${enc(name)}/cluster`);
        const states = replicaGrid(info);
        drawGrid(states);
        drawActions(states);
        drawTransfers(info.shard_transfers ?? []);
      }
      main.dataset.refreshed = String(Date.now());
    } catch (err) {
      showError(err);
      live.checked = false;  // one error message, not one every two seconds
    }
    if (!stopped && live.checked) timer = setTimeout(refresh, REFRESH_MS);
  };
  live.addEventListener("change", () => { if (live.checked) refresh(); });

  replace(main, h("h2", {}, "Cluster"), h("div", { class: "row" }, field("Live refresh", live)), peers,
    name ? [h("div", { class: "row" }, chooser.element), h("h3", {}, "Replicas (shard × peer)"), grid, actions,
      h("h3", {}, "Transfers"), transfers] : h("p", { class: "muted" }, "No collections yet."));
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
