// What the cluster runs (the verifier's live state, when a cluster is configured): Argo CD's
// sync and health, ready replicas, and whether it runs what git says.

import { h } from "../dom.js";
import { ago } from "../format.js";

const TONES = {
  Synced: "good",
  Healthy: "good",
  Progressing: "busy",
  OutOfSync: "bad",
  Degraded: "bad",
  Missing: "bad",
};

function stateBadge(text, title) {
  return h("span", { class: `badge tone-${TONES[text] ?? "idle"}`, title }, text);
}

export function clusterBadges(service) {
  const live = service.live;
  if (!service.cluster) return null;
  if (!live) return stateBadge("no live state", `cluster ${service.cluster}: not observed yet`);
  const ready = live.ready_replicas ?? 0;
  const wanted = live.replicas ?? 0;
  return [
    live.sync ? stateBadge(live.sync, "Argo CD sync status") : null,
    live.health ? stateBadge(live.health, "Argo CD health") : null,
    h(
      "span",
      { class: `badge tone-${ready >= wanted && wanted > 0 ? "good" : "busy"}`, title: "pods ready" },
      `${ready}/${wanted} ready`,
    ),
    live.matches_git === false
      ? h("span", { class: "badge tone-bad", title: `runs ${live.image}` }, "not what git says")
      : null,
  ];
}

export function clusterFacts(service) {
  if (!service.cluster) return null;
  const live = service.live;
  return [
    h("dt", {}, "Cluster"),
    h(
      "dd",
      {},
      service.cluster,
      live?.workload ? ` · ${live.workload}` : "",
      live?.observed_at ? h("span", { class: "muted" }, ` · seen ${ago(live.observed_at)}`) : "",
    ),
  ];
}
