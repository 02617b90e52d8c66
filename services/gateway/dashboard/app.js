// The dashboard: a hash router over four views, re-rendered as live events arrive.

import { isSignInNeeded, signIn, signOut, token } from "./api.js";
import { h, restore, snapshot } from "./dom.js";
import { FINAL_RUN_STATUSES } from "./format.js";
import { connectLive } from "./live.js";
import { whenActionDone } from "./views/actions.js";
import { metricsView } from "./views/metrics.js";
import { runView } from "./views/run.js";
import { runsView } from "./views/runs.js";
import { servicesView } from "./views/services.js";

const REFRESH_DELAY_MS = 250;
// The notifier marks a run notified after its RunCompleted, without an event of its own.
const AFTER_COMPLETION_MS = [1500, 5000];

const main = document.getElementById("main");
const announcer = document.getElementById("announcer");
let rendering = Promise.resolve();
let refreshTimer = null;

function route() {
  const path = location.hash.replace(/^#/, "") || "/";
  const run = path.match(/^\/runs\/([A-Za-z0-9_.-]{1,64})$/);
  if (run) return { name: "runs", title: `Run ${run[1]}`, view: () => runView(run[1]) };
  if (path === "/runs") return { name: "runs", title: "Runs", view: runsView };
  if (path === "/metrics") {
    return { name: "metrics", title: "Delivery metrics", view: () => metricsView(refresh) };
  }
  return { name: "services", title: "Services", view: servicesView };
}

// Render the current route; a re-render of the same page keeps its fields, open panels,
// focus and scroll, whether live or after signing in.
function render() {
  rendering = rendering.then(async () => {
    const current = route();
    const path = location.hash || "#/";
    let content;
    try {
      content = await current.view();
    } catch (error) {
      content = [h("h1", {}, current.title), problemNotice(error)];
    }
    // taken only now: the reader may have typed or opened something while the view loaded
    const saved = main.dataset.path === path ? snapshot(main) : null;
    main.replaceChildren(...[content].flat(Infinity).filter(Boolean));
    main.dataset.path = path;
    document.title = `${current.title} · Shipline`;
    for (const link of document.querySelectorAll("nav a[data-view]")) {
      if (link.dataset.view === current.name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (saved) restore(main, saved);
  }).catch((error) => console.error("the dashboard could not render", error));
  return rendering;
}

function problemNotice(error) {
  if (!isSignInNeeded(error)) {
    return h("p", { class: "notice tone-bad", role: "alert" }, `Could not load: ${error.message}`);
  }
  const why = token() ? `The token was refused: ${error.message}` : "Reading needs an API token.";
  return h("p", { class: "notice", role: "alert", "data-sign-in-needed": true },
    `${why} Sign in above with a token from the server's api_tokens.`);
}

function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(render, REFRESH_DELAY_MS);
}

function onEvent(event) {
  if (event.type === "RunCompleted") {
    const outcome = FINAL_RUN_STATUSES.includes(event.status) ? event.status : "ended";
    announce(`Run ${event.run_id} ${outcome}`);
    for (const delay of AFTER_COMPLETION_MS) setTimeout(refresh, delay);
  } else if (event.type === "PushReceived" || event.type === "RollbackRequested") {
    announce(`Run ${event.run_id} started`);
  }
  refresh();
}

function announce(text) {
  announcer.textContent = text;
}

function showLiveState(state) {
  const label = document.getElementById("live-state");
  label.dataset.state = state;
  label.textContent = {
    live: "Live", reconnecting: "Reconnecting…", offline: "Offline", "signed-out": "Signed out",
  }[state];
  if (state === "live") refresh(); // catch up on whatever happened while disconnected
}

function showSession() {
  const signedIn = Boolean(token());
  document.getElementById("sign-in").hidden = signedIn;
  document.getElementById("signed-in").hidden = !signedIn;
}

function wireSession() {
  document.getElementById("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = event.currentTarget.token;
    signIn(field.value);
    field.value = "";
    showSession();
    announce("Signed in: actions are available on each service");
    render();
    live.reopen();
    document.getElementById("sign-out").focus();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    signOut();
    showSession();
    announce("Signed out");
    render();
    live.reopen();
    document.getElementById("token").focus();
  });
}

window.addEventListener("hashchange", async () => {
  await render();
  main.focus();
});
const live = connectLive(onEvent, showLiveState);
whenActionDone(refresh);
wireSession();
showSession();
render();
