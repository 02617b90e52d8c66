// A service's stages in one run, as the steps detected → built → scanned → committed → notified.

import { h } from "../dom.js";
import { FINAL_RUN_STATUSES, tone } from "../format.js";

const STEPS = [
  ["detector", "detected"],
  ["builder", "built"],
  ["scanner", "scanned"],
  ["committer", "committed"],
  ["verifier", "verified"],
  ["notifier", "notified"],
];

// Stages a manual run never passes through: a deploy starts at the scanner with an image
// that exists, a rollback goes straight to the committer.
const NOT_RUN_BY = {
  deploy: ["detector"],
  rollback: ["detector", "builder", "scanner"],
};

export function stepStates(run, service) {
  const stages = Object.fromEntries((run.timeline?.[service] ?? []).map((s) => [s.stage, s]));
  const ended = ["failed", "blocked", "held", "superseded", "skipped"];
  const endedAt = STEPS.findIndex(([stage]) => ended.includes(stages[stage]?.state));
  const final = FINAL_RUN_STATUSES.includes(run.status);
  const notRun = NOT_RUN_BY[run.trigger] ?? [];
  return STEPS.filter(([stage]) => stage !== "verifier" || stages.verifier).map(
    ([stage, label], index) => {
      if (stage === "notifier") {
        const state = run.notified_at ? "done" : final ? "running" : "pending";
        return { stage, label, state };
      }
      if (notRun.includes(stage)) return { stage, label, state: "skipped" };
      const entry = stages[stage];
      if (entry) return { stage, label, state: entry.state, seconds: entry.seconds };
      if (endedAt !== -1 && index > endedAt) return { stage, label, state: "not reached" };
      return { stage, label, state: final ? "skipped" : "pending" };
    },
  );
}

export function stepList(run, service) {
  return h(
    "ol",
    { class: "steps", "aria-label": `Stages of ${service} in the last run` },
    stepStates(run, service).map((step) => {
      const look = tone(step.state);
      return h(
        "li",
        { class: `step tone-${look.tone}`, dataset: { stage: step.stage, state: step.state } },
        h("span", { class: "symbol", "aria-hidden": "true" }, look.symbol),
        h("span", { class: "step-label" }, step.label),
        h("span", { class: "visually-hidden" }, `: ${step.state}`),
      );
    }),
  );
}
