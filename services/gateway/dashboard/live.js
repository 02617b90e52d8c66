// One server-sent-event connection per tab to every run's events; the browser reconnects by
// itself and resumes after the last entry it saw (Last-Event-ID).

const EVENT_TYPES = [
  "PushReceived", "BuildRequested", "ChangeDetected", "ImagePushed", "BuildSuperseded",
  "ScanPassed", "ScanFailed", "ManifestCommitted", "StageFailed", "RunCompleted",
  "RollbackRequested", "ReleaseReady", "DeploymentSkipped", "DeploymentVerified",
  "DeploymentFailed", "message",
];

export function connectLive(onEvent, onState) {
  const source = new EventSource("/api/v1/events/stream");
  source.addEventListener("open", () => onState("live"));
  source.addEventListener("error", () =>
    onState(source.readyState === EventSource.CLOSED ? "offline" : "reconnecting"));
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (message) => {
      try {
        onEvent(JSON.parse(message.data));
      } catch {
        // a malformed event is not worth breaking the page for
      }
    });
  }
  return source;
}
