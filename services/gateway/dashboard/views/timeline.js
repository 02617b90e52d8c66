// A Gantt-style timeline: one row per service, one bar per stage, on the run's time axis.

import { h } from "../dom.js";
import { duration, tone } from "../format.js";

export function timelineChart(run, now = Date.now() / 1000) {
  const rows = Object.entries(run.timeline ?? {});
  const starts = rows.flatMap(([, stages]) => stages.map((s) => s.started).filter(Boolean));
  if (starts.length === 0) return h("p", {}, "No stage has started yet.");
  const origin = Math.min(run.created_at ?? Infinity, ...starts);
  const ends = rows.flatMap(([, stages]) => stages.map((s) => s.finished ?? now));
  const span = Math.max(...ends, origin + 1) - origin;
  return h(
    "div",
    { class: "gantt", role: "group", "aria-label": `Timeline over ${duration(span)}` },
    rows.map(([service, stages]) =>
      h(
        "section",
        { class: "gantt-row", "aria-label": service },
        h("h3", { class: "gantt-service" }, service),
        h(
          "ol",
          { class: "gantt-track" },
          stages.map((stage) => bar(stage, origin, span, now)),
        ),
      ),
    ),
    h("p", { class: "gantt-axis muted" }, h("span", {}, "0 s"), h("span", {}, duration(span))),
  );
}

function bar(stage, origin, span, now) {
  const start = stage.started ?? origin;
  const end = stage.finished ?? now;
  const look = tone(stage.state);
  const item = h(
    "li",
    { class: `gantt-bar tone-${look.tone}`, dataset: { stage: stage.stage, state: stage.state } },
    h("span", { class: "gantt-label" }, `${stage.stage} ${look.symbol}`),
    h(
      "span",
      { class: "visually-hidden" },
      `: ${stage.state}, ${duration(stage.seconds ?? end - start)}, from ${duration(start - origin)}`,
    ),
  );
  // CSSOM styles are allowed by the CSP (style attributes in markup are not).
  item.style.marginLeft = `${((start - origin) / span) * 100}%`;
  item.style.width = `${Math.max(((end - start) / span) * 100, 1.5)}%`;
  return item;
}
