// The runs view: recent runs with trigger, who, commit, outcome and duration.

import { getJSON } from "../api.js";
import { h } from "../dom.js";
import { ago, duration, isoTime, runDuration, runSubject, shortSha } from "../format.js";
import { statusBadge } from "./badges.js";

export async function runsView() {
  const { runs } = await getJSON("/api/v1/runs?limit=50");
  return [
    h("h1", {}, "Runs"),
    runs.length === 0
      ? h("p", {}, "No run yet: push to a configured repository.")
      : h(
          "table",
          { class: "runs" },
          h("caption", { class: "visually-hidden" }, "Recent runs, newest first"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Run", "Trigger", "Who", "Commit", "Services", "Outcome", "Duration"].map((c) =>
                h("th", { scope: "col" }, c),
              ),
            ),
          ),
          h("tbody", {}, runs.map(runRow)),
        ),
  ];
}

function runRow(run) {
  // one wrapper per cell: on a phone each cell becomes a label/value grid of two items
  const cell = (label, ...content) => h("td", { dataset: { label } }, h("span", {}, ...content));
  return h(
    "tr",
    { dataset: { runId: run.run_id, status: run.status } },
    cell(
      "Run",
      h("a", { href: `#/runs/${run.run_id}` }, run.run_id),
      h("br"),
      h("time", { class: "muted", datetime: isoTime(run.created_at) }, ago(run.created_at)),
    ),
    cell("Trigger", run.trigger ?? ""),
    cell("Who", run.pusher || run.requested_by || "—"),
    cell("Commit", h("code", {}, shortSha(run.commit)), " ", runSubject(run)),
    cell("Services", Object.keys(run.services ?? {}).join(", ") || "—"),
    cell("Outcome", statusBadge(run.status)),
    cell("Duration", duration(runDuration(run))),
  );
}
