// The services view: a card per service with what is deployed and how its last run went.

import { getJSON, token } from "../api.js";
import { h } from "../dom.js";
import { ago, isoTime, shortSha, splitImage } from "../format.js";
import { actionsPanel } from "./actions.js";
import { badge, statusBadge } from "./badges.js";
import { clusterBadges, clusterFacts } from "./cluster.js";
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
