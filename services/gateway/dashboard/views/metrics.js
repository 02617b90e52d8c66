// Delivery metrics (DORA) over a chosen window, overall and per service.

import { getJSON } from "../api.js";
import { h } from "../dom.js";
import { duration, percent } from "../format.js";

const WINDOWS = [7, 30, 90];
const COLUMNS = [
  "Service",
  "Deploys",
  "Per day",
  "Lead time (median)",
  "Change failure",
  "Time to restore (median)",
  "Rollbacks",
];
let days = 30;

export async function metricsView(rerender) {
  const report = await getJSON(`/api/v1/delivery-metrics?days=${days}`);
  const services = Object.entries(report.services);
  return [
    h("h1", {}, "Delivery metrics"),
    h(
      "p",
      {},
      h("label", { for: "metrics-window" }, "Window "),
      h(
        "select",
        {
          id: "metrics-window",
          onchange: (event) => {
            days = Number(event.target.value);
            rerender();
          },
        },
        WINDOWS.map((d) => h("option", { value: d, selected: d === days }, `last ${d} days`)),
      ),
    ),
    h("ul", { class: "kpis", "aria-label": "All services" }, kpis(report.overall)),
    h("h2", {}, "Per service"),
    services.length === 0
      ? h("p", {}, "Nothing was deployed in this window.")
      : h(
          "table",
          { class: "metrics" },
          h("caption", { class: "visually-hidden" }, "Delivery metrics per service"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              COLUMNS.map((c) => h("th", { scope: "col" }, c)),
            ),
          ),
          h(
            "tbody",
            {},
            services.map(([name, m]) =>
              h(
                "tr",
                { dataset: { service: name } },
                h("th", { scope: "row" }, name),
                h("td", { dataset: { label: "Deploys" } }, m.deployments),
                h("td", { dataset: { label: "Per day" } }, m.deployments_per_day),
                h("td", { dataset: { label: "Lead time" } }, duration(m.lead_time.median_seconds)),
                h(
                  "td",
                  { dataset: { label: "Change failure" } },
                  failureText(m.change_failure),
                ),
                h("td", { dataset: { label: "Time to restore" } }, restoreText(m.time_to_restore)),
                h("td", { dataset: { label: "Rollbacks" } }, m.rollbacks),
              ),
            ),
          ),
        ),
    h(
      "p",
      { class: "muted" },
      "Lead time runs from the push to the manifest commit; a change fails when the scan blocks " +
        "it, its rollout fails, or it is rolled back; time to restore runs from the failure to " +
        "the next commit of another image.",
    ),
  ];
}

function kpis(m) {
  const kpi = (label, value, note) =>
    h(
      "li",
      { class: "kpi" },
      h("span", { class: "kpi-label" }, label),
      h("strong", {}, value),
      h("span", { class: "muted" }, note),
    );
  return [
    kpi("Deployment frequency", `${m.deployments_per_day} / day`, plural(m.deployments, "deploy")),
    kpi(
      "Lead time (median)",
      duration(m.lead_time.median_seconds),
      plural(m.lead_time.count, "change"),
    ),
    kpi(
      "Change failure rate",
      percent(m.change_failure.rate),
      `${m.change_failure.failed} of ${m.change_failure.changes}`,
    ),
    kpi("Time to restore (median)", restoreText(m.time_to_restore), plural(m.rollbacks, "rollback")),
  ];
}

function failureText(failure) {
  return `${percent(failure.rate)} (${failure.failed}/${failure.changes})`;
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function restoreText(restore) {
  const text = duration(restore.median_seconds);
  return restore.open ? `${text} (${restore.open} open)` : text;
}
