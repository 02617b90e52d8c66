import { h } from "../dom.js";
import { tone } from "../format.js";

export function statusBadge(status, label = status) {
  const look = tone(status);
  return h(
    "span",
    { class: `badge tone-${look.tone}`, dataset: { status } },
    h("span", { "aria-hidden": "true" }, `${look.symbol} `),
    label,
  );
}

export function badge(text, kind, title) {
  return h("span", { class: `badge badge-${kind}`, title }, text);
}
