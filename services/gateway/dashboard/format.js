// Pure formatting helpers: times, durations, images, outcomes.

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.round(hours / 24)} days`;
}

export function ago(epochSeconds, now = Date.now() / 1000) {
  if (!epochSeconds) return "";
  const seconds = Math.max(0, now - epochSeconds);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

export function isoTime(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toISOString() : "";
}

export function shortSha(sha) {
  return sha ? sha.slice(0, 7) : "";
}

export function splitImage(image) {
  if (!image) return { repository: "", tag: "" };
  const at = image.lastIndexOf(":");
  const slash = image.lastIndexOf("/");
  if (at <= slash) return { repository: image, tag: "" };
  return { repository: image.slice(0, at), tag: image.slice(at + 1) };
}

export const FINAL_RUN_STATUSES = ["succeeded", "failed", "blocked", "skipped", "superseded", "held", "rejected"];

// What a status looks like: a tone for colour and a symbol, so it is never colour alone.
export function tone(status) {
  switch (status) {
    case "succeeded": case "done": case "passed": return { tone: "good", symbol: "✓" };
    case "failed": case "blocked": case "rejected": return { tone: "bad", symbol: "✗" };
    case "running": case "queued": case "awaiting-merge": return { tone: "busy", symbol: "●" };
    case "held": case "superseded": case "skipped": return { tone: "muted", symbol: "–" };
    default: return { tone: "idle", symbol: "○" };
  }
}

export function runDuration(run, now = Date.now() / 1000) {
  if (!run.created_at) return null;
  const end = run.finished_at ?? (FINAL_RUN_STATUSES.includes(run.status) ? null : now);
  return end ? end - run.created_at : null;
}

export function runSubject(run) {
  if (run.message) return run.message;
  const services = Object.keys(run.services ?? {}).join(", ");
  switch (run.trigger) {
    case "deploy": return `deploy ${services}`;
    case "rollback": return `roll back ${services}`;
    case "forced": return `forced build of ${services}`;
    case "tag": return run.release ? `release ${run.release}` : "tag push";
    default: return run.trigger ? `${run.trigger} run` : "";
  }
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(rate < 0.1 ? 1 : 0)} %`;
}
