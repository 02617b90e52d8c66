// What runs where: services as rows, environments (shipline.yaml `environments:`) as
// columns, each cell the image's tag, since when, its state, the promotion pull request
// awaiting its merge there and, signed in, a button that promotes it to the next
// environment (POST /api/v1/promotions).

import { ApiError, post, token } from "../api.js";
import { h } from "../dom.js";
import { ago, isoTime, shortSha, splitImage } from "../format.js";
import { actionDone } from "./actions.js";

// The last promotion asked per service, kept across live re-renders.
const outcomes = new Map();

const STATE_TONES = {
  healthy: { tone: "good", symbol: "✓" },
  failed: { tone: "bad", symbol: "✗" },
  missing: { tone: "bad", symbol: "✗" },
  pending: { tone: "busy", symbol: "●" },
  committed: { tone: "idle", symbol: "○" },
};

export function environmentsTable(services) {
  const rows = services.filter((s) => s.environments?.length);
  if (rows.length === 0) return null;
  const names = [...new Set(rows.flatMap((s) => s.environments.map((e) => e.name)))];
  return h(
    "section",
    { class: "environments" },
    h(
      "table",
      { "aria-label": "What runs where" },
      h("caption", {}, "What runs where"),
      h(
        "thead",
        {},
        h("tr", {}, h("th", { scope: "col" }, "Service"), names.map((n) => h("th", { scope: "col" }, n))),
      ),
      h(
        "tbody",
        {},
        rows.map((service) =>
          h(
            "tr",
            { dataset: { service: service.service } },
            h("th", { scope: "row" }, service.service),
            names.map((name) => environmentCell(service, name)),
          ),
        ),
      ),
    ),
  );
}

function environmentCell(service, name) {
  const env = service.environments.find((e) => e.name === name);
  if (!env) return h("td", { dataset: { label: name, environment: name } }, "—");
  const next = service.environments.find((e) => e.source === env.name);
  const outcome = outcomes.get(`${service.repository}/${service.service}`);
  return h(
    "td",
    { dataset: { label: name, environment: name, state: env.state } },
    env.image
      ? h("strong", { class: "tag", title: env.image }, tagOf(env.image))
      : h("span", { class: "tone-bad" }, env.reason ?? "no image"),
    " ",
    stateBadge(env.state),
    env.since
      ? h("div", {}, "since ", h("time", { datetime: isoTime(env.since) }, ago(env.since)))
      : null,
    env.source_commit ? h("div", {}, "built from ", h("code", {}, shortSha(env.source_commit))) : null,
    env.run_id ? h("div", {}, h("a", { href: `#/runs/${env.run_id}` }, env.run_id)) : null,
    env.incoming_run_id
      ? h("div", { class: "incoming" }, "under way: ", h("a", { href: `#/runs/${env.incoming_run_id}` }, env.incoming_run_id))
      : null,
    env.pending_pull_request ? awaitingMerge(env.pending_pull_request) : null,
    token() && next && env.promotable && next.image !== env.image
      ? promoteButton(service, next.name)
      : null,
    outcome && outcome.to === next?.name
      ? h("p", { class: "action-outcome", role: "status" }, outcomeText(outcome))
      : null,
  );
}

function awaitingMerge(pull) {
  // the host's answer names the request's page: linked only when it is a web address
  const web = /^https?:\/\//.test(pull.url);
  return h(
    "div",
    { class: "awaiting-merge", dataset: { pullRequest: String(pull.number) } },
    "awaiting merge: ",
    web
      ? h("a", { href: pull.url, rel: "noopener", target: "_blank" }, `pull request #${pull.number}`)
      : `pull request #${pull.number}`,
    " (run ",
    h("a", { href: `#/runs/${pull.run_id}` }, pull.run_id),
    ")",
  );
}

function tagOf(image) {
  return splitImage(image.split("@")[0]).tag || "latest";
}

function stateBadge(state) {
  const look = STATE_TONES[state] ?? STATE_TONES.committed;
  return h(
    "span",
    { class: `badge tone-${look.tone}`, dataset: { status: state } },
    h("span", { "aria-hidden": "true" }, `${look.symbol} `),
    state,
  );
}

function promoteButton(service, to) {
  const key = `${service.repository}/${service.service}`;
  const click = async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const body = { service: service.service, to, repository: service.repository };
      outcomes.set(key, { to, answer: await post("/api/v1/promotions", body) });
    } catch (error) {
      const why = error instanceof ApiError && error.status === 401 ? "sign in first" : error.message;
      outcomes.set(key, { to, error: why });
    } finally {
      button.disabled = false;
    }
    actionDone();
  };
  return h(
    "button",
    { type: "button", class: "promote", "aria-label": `Promote ${service.service} to ${to}`, onclick: click },
    `Promote to ${to}`,
  );
}

function outcomeText({ to, answer, error }) {
  if (error) return h("span", { class: "tone-bad" }, `Promotion to ${to} refused: ${error}`);
  if (answer.run_id) {
    return [`Promotion to ${to} queued as run `, h("a", { href: `#/runs/${answer.run_id}` }, answer.run_id)];
  }
  return answer.reason ?? `nothing to promote to ${to}`;
}
