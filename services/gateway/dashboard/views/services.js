// The services view: a card per service with what is deployed, how far it is behind its
// default branch, and how its last run went.

import { getJSON, token } from "../api.js";
import { h } from "../dom.js";
import { ago, isoTime, shortSha, splitImage } from "../format.js";
import { actionsPanel } from "./actions.js";
import { badge, statusBadge } from "./badges.js";
import { clusterBadges, clusterFacts } from "./cluster.js";
import { environmentsTable } from "./environments.js";
import { stepList } from "./stages.js";

export async function servicesView() {
  const { services, errors } = await getJSON("/api/v1/services");
  const runIds = [...new Set(services.map((s) => s.last_run?.run_id).filter(Boolean))];
  const runs = Object.fromEntries(
    await Promise.all(runIds.map(async (id) => [id, await getJSON(`/api/v1/runs/${id}`)])),
  );
  return [
    h("h1", {}, "Services"),
    errors.map((e) =>
      h("p", { class: "notice tone-bad", role: "alert" }, `${e.repository}: ${e.reason}`),
    ),
    services.length === 0 ? h("p", {}, "No service is configured yet.") : null,
    environmentsTable(services),
    h(
      "ul",
      { class: "cards", "aria-label": "Services" },
      services.map((s) => h("li", {}, serviceCard(s, runs[s.last_run?.run_id]))),
    ),
  ];
}

function serviceCard(service, run) {
  const { repository, tag } = splitImage(service.image);
  const last = service.last_run;
  const runService = run?.services?.[service.service];
  const headingId = `service-${service.service}`;
  return h(
    "article",
    { class: "card", "aria-labelledby": headingId, dataset: { service: service.service } },
    h(
      "header",
      { class: "card-head" },
      h("h2", { id: headingId }, service.service),
      h(
        "p",
        { class: "badges" },
        last ? statusBadge(last.status) : badge("never run", "muted"),
        service.pinned
          ? badge("pinned", "pinned", `pinned to ${service.pin?.image} by ${service.pin?.by}`)
          : null,
        clusterBadges(service),
        service.drift?.state === "behind"
          ? badge("behind", "behind", driftText(service) ?? undefined)
          : null,
      ),
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Deployed"),
      h(
        "dd",
        { class: "image" },
        service.image
          ? [h("span", { class: "repo" }, `${repository}:`), h("strong", { class: "tag" }, tag)]
          : h("span", { class: "tone-bad" }, service.problem ?? "no image"),
      ),
      run
        ? [
            h("dt", {}, "Commit"),
            h(
              "dd",
              {},
              h("code", {}, shortSha(run.commit)),
              " ",
              h("time", { datetime: isoTime(run.created_at) }, ago(run.created_at)),
            ),
          ]
        : null,
      service.drift ? [h("dt", {}, "Source"), driftFact(service)] : null,
      h("dt", {}, "Scan"),
      h("dd", {}, runService?.scan || (runService?.scan_skipped_by ? "skipped" : "—")),
      service.pin
        ? [h("dt", {}, "Pin"), h("dd", {}, `${service.pin.image} by ${service.pin.by}`)]
        : null,
      clusterFacts(service),
    ),
    run ? stepList(run, service.service) : null,
    runService?.reason ? h("p", { class: "reason" }, runService.reason) : null,
    last ? h("p", {}, h("a", { href: `#/runs/${last.run_id}` }, `Last run ${last.run_id}`)) : null,
    token() ? actionsPanel(service) : null,
  );
}

function driftFact(service) {
  const { state, since } = service.drift;
  const text =
    state === "behind"
      ? driftText(service)
      : state === "in_sync"
        ? `in sync at ${since}`
        : "unknown: no deploy by Shipline recorded";
  return h("dd", { class: `drift drift-${state}`, dataset: { drift: state } }, text);
}

// As `shipline status` says it (services/cli/views.py drift_line), e.g. "behind by 3
// commits since 1a2b3c4; last attempt failed: registry unreachable; retrying in 40 s".
export function driftText(service, now = Date.now() / 1000) {
  const drift = service.drift;
  if (drift?.state !== "behind") return null;
  const count = drift.behind_by ?? 0;
  const parts = [`behind by ${count} commit${count === 1 ? "" : "s"} since ${drift.since}`];
  const attempt = drift.last_attempt;
  if (attempt && ["failed", "blocked"].includes(attempt.status)) {
    const reason = (attempt.reason ?? "").split("\n")[0];
    parts.push(`last attempt ${attempt.status}${reason ? `: ${reason}` : ""}`);
  } else if (attempt && ["pending", "running"].includes(attempt.status)) {
    parts.push(`a build is under way (${attempt.run_id})`);
  }
  if (drift.retry_at != null) {
    const wait = Math.ceil(drift.retry_at - now);
    parts.push(wait > 0 ? `retrying in ${wait} s` : "retrying now");
  }
  if (service.pinned) parts.push("held by its pin");
  return parts.join("; ");
}
