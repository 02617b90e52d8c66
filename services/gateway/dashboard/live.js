// One server-sent-event connection per tab to every run's events. The browser reconnects by
// itself while its ticket is fresh; once the server refuses it (a ticket lasts a minute),
// the connection is opened again with a new ticket.

import { isSignInNeeded, streamUrl } from "./api.js";

const EVENT_TYPES = [
  "PushReceived", "BuildRequested", "ChangeDetected", "ImagePushed", "BuildSuperseded",
  "ScanPassed", "ScanFailed", "ManifestCommitted", "StageFailed", "RunCompleted",
  "RollbackRequested", "ReleaseReady", "DeploymentSkipped", "DeploymentVerified",
  "DeploymentFailed", "message",
];
const RETRY_MS = 3000;

// onState: "live", "reconnecting", "offline" or "signed-out" (no token the server accepts).
export function connectLive(onEvent, onState) {
  let source = null;
  let retry = null;
  let stopped = false;

  async function open() {
    clearTimeout(retry);
    source?.close();
    let url;
    try {
      url = await streamUrl("/api/v1/events/stream");
    } catch (error) {
      if (isSignInNeeded(error)) {
        onState("signed-out");
        return;
      }
      onState("offline");
      retry = setTimeout(open, RETRY_MS);
      return;
    }
    if (stopped) return;
    const current = new EventSource(url);
    source = current;
    current.addEventListener("open", () => onState("live"));
    current.addEventListener("error", () => {
      onState("reconnecting");
      if (current.readyState === EventSource.CLOSED) retry = setTimeout(open, RETRY_MS);
    });
    for (const type of EVENT_TYPES) {
      current.addEventListener(type, (message) => {
        try {
          onEvent(JSON.parse(message.data));
        } catch {
          // a malformed event is not worth breaking the page for
        }
      });
    }
  }

  open();
  return {
    reopen: open,
    close() {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    },
  };
}
