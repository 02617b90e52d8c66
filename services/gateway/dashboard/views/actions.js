// Operator actions on a service: redeploy a tag, roll back, unpin (the API token is needed).

import { ApiError, post } from "../api.js";
import { h } from "../dom.js";

// The last outcome of an action per service, kept across live re-renders.
const outcomes = new Map();
let onDone = () => {};

export function whenActionDone(callback) {
  onDone = callback;
}

// Another view's action (a promotion) ended: re-render as after an action here.
export function actionDone() {
  onDone();
}

export function actionsPanel(service) {
  const name = service.service;
  const id = (what) => `${what}-${name}`;
  const repository = service.repository;
  const outcome = outcomes.get(name);
  return h(
    "details",
    { class: "actions", id: id("actions") },
    h("summary", {}, "Operate"),
    h(
      "form",
      {
        class: "action",
        "aria-label": `Redeploy ${name}`,
        onsubmit: submit(name, "Redeploy", (form) =>
          post("/api/v1/deployments", { service: name, repository, tag: form.tag.value.trim() }),
        ),
      },
      h("label", { for: id("redeploy-tag") }, "Tag to redeploy"),
      h("input", {
        id: id("redeploy-tag"),
        name: "tag",
        required: true,
        pattern: "[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,127}",
        placeholder: "sha-1a2b3c4 or v1.2.0",
        autocomplete: "off",
      }),
      h("button", { type: "submit" }, "Redeploy"),
    ),
    h(
      "form",
      {
        class: "action",
        "aria-label": `Roll back ${name}`,
        onsubmit: submit(name, "Rollback", (form) => {
          const to = form.to.value.trim();
          return post("/api/v1/rollbacks", { service: name, repository, ...(to ? { to } : {}) });
        }),
      },
      h("label", { for: id("rollback-to") }, "Roll back to tag (empty: the previous image)"),
      h("input", {
        id: id("rollback-to"),
        name: "to",
        pattern: "[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,127}",
        autocomplete: "off",
      }),
      h("button", { type: "submit", class: "danger" }, "Roll back"),
    ),
    service.pinned
      ? h(
          "form",
          {
            class: "action",
            "aria-label": `Unpin ${name}`,
            onsubmit: submit(name, "Unpin", () => {
              const query = new URLSearchParams({ repository });
              return post(`/api/v1/services/${encodeURIComponent(name)}/unpin?${query}`);
            }),
          },
          h("button", { type: "submit" }, "Unpin"),
        )
      : null,
    h(
      "p",
      { class: "action-outcome", role: "status", id: id("outcome") },
      outcome ? outcomeText(outcome) : "",
    ),
  );
}

function submit(service, label, call) {
  return async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const answer = await call(form);
      outcomes.set(service, { label, answer });
      form.reset();
    } catch (error) {
      const why = error instanceof ApiError && error.status === 401 ? "sign in first" : error.message;
      outcomes.set(service, { label, error: why });
    } finally {
      button.disabled = false;
    }
    onDone();
  };
}

function outcomeText({ label, answer, error }) {
  if (error) return h("span", { class: "tone-bad" }, `${label} refused: ${error}`);
  if ("unpinned" in answer) {  // the pin is removed from the gitops repository by a run
    const what = answer.unpinned ? "unpinned" : "was not pinned";
    const run = h("a", { href: `#/runs/${answer.run_id}` }, answer.run_id);
    return [`${label}: ${what}, committed by run `, run];
  }
  if (answer.run_id) {
    return [`${label} queued as run `, h("a", { href: `#/runs/${answer.run_id}` }, answer.run_id)];
  }
  return `${label}: ${answer.unpinned ? "unpinned" : "was not pinned"}`;
}
