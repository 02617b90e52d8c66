// A run's page: what started it, a timeline, and per service its scan and build log.

import { ApiError, getJSON, getText } from "../api.js";
import { h } from "../dom.js";
import { ago, duration, isoTime, runDuration, runSubject, shortSha } from "../format.js";
import { statusBadge } from "./badges.js";
import { timelineChart } from "./timeline.js";

const LOG_LINES = 40;

export async function runView(runId) {
  let run;
  try {
    run = await getJSON(`/api/v1/runs/${encodeURIComponent(runId)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return [h("h1", {}, "Run not found"), h("p", {}, `There is no run ${runId}.`)];
    }
    throw error;
  }
  const names = Object.keys(run.services ?? {});
  const details = await Promise.all(names.map((name) => serviceDetails(run, name)));
  return [
    h("p", {}, h("a", { href: "#/runs" }, "← All runs")),
    h("h1", {}, `Run ${run.run_id} `, statusBadge(run.status)),
    summary(run),
    run.failure ? h("p", { class: "notice tone-bad" }, run.failure) : null,
    run.reason ? h("p", { class: "notice" }, run.reason) : null,
    h("h2", {}, "Timeline"),
    timelineChart(run),
    run.release_notes
      ? [
          h("h2", {}, `Release notes ${run.release ?? ""}`),
          h("pre", { class: "notes" }, run.release_notes),
        ]
      : null,
    details,
  ];
}

function summary(run) {
  const fact = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
  return h(
    "dl",
    { class: "facts run-facts" },
    fact("Trigger", run.trigger ?? ""),
    fact("Who", run.pusher || run.requested_by || "—"),
    fact("Commit", h("code", {}, shortSha(run.commit)), " ", runSubject(run)),
    run.repository ? fact("Repository", run.repository, run.ref ? ` (${run.ref})` : "") : null,
    fact("Started", h("time", { datetime: isoTime(run.created_at) }, ago(run.created_at))),
    fact("Duration", duration(runDuration(run))),
    run.release ? fact("Release", run.release) : null,
  );
}

async function serviceDetails(run, name) {
  const service = run.services[name];
  const [scan, log] = await Promise.all([scanOf(run, name, service), buildLogOf(run, name)]);
  return h(
    "section",
    { class: "service-detail", "aria-labelledby": `detail-${name}` },
    h("h2", { id: `detail-${name}` }, name, " ", statusBadge(service.status)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Image"),
      h("dd", {}, h("code", {}, service.image || "—")),
      service.digest ? [h("dt", {}, "Digest"), h("dd", {}, h("code", {}, service.digest))] : null,
      service.gitops_commit
        ? [h("dt", {}, "Gitops commit"), h("dd", {}, h("code", {}, shortSha(service.gitops_commit)))]
        : null,
      service.reason ? [h("dt", {}, "Reason"), h("dd", {}, service.reason)] : null,
    ),
    scan ? scanSection(scan) : null,
    h("h3", {}, "Build log"),
    log === null
      ? h("p", { class: "muted" }, "No build log here (not built in this run, or on another host).")
      : h("pre", { class: "log", tabindex: "0", "aria-label": `Build log of ${name}` }, log),
  );
}

async function scanOf(run, name, service) {
  if (!service.timings?.scanner && service.status !== "blocked") return null;
  try {
    return await getJSON(`/api/v1/runs/${run.run_id}/services/${name}/scan`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function buildLogOf(run, name) {
  return getText(`/api/v1/runs/${run.run_id}/services/${name}/build-log?lines=${LOG_LINES}`);
}

const REPORT_LABELS = { json: "Trivy JSON", sarif: "SARIF", cyclonedx: "SBOM (CycloneDX)" };

// The reports and the image's SBOM: fetched with the token (a plain link could not send it).
function reportLinks(scan) {
  const links = Object.entries(scan.reports ?? {});
  if (!links.length) return null;
  return h(
    "p",
    { class: "reports" },
    "Reports: ",
    links.map(([format, url], i) => [
      i ? ", " : "",
      h(
        "a",
        { href: url, onclick: (event) => download(event, url, format) },
        REPORT_LABELS[format] ?? format,
      ),
    ]),
    scan.sbom?.error ? ` (SBOM ${scan.sbom.error})` : "",
  );
}

async function download(event, url, format) {
  event.preventDefault();
  const text = await getText(url);
  if (text === null) return;
  const name = `${scanFileStem(url)}.${format === "cyclonedx" ? "cdx" : format}.json`;
  const link = h("a", { href: URL.createObjectURL(new Blob([text])), download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function scanFileStem(url) {
  const [, run, service] = url.match(/runs\/([^/]+)\/services\/([^/]+)\//) ?? [];
  return run ? `${run}-${service}` : "scan";
}

function scanSection(scan) {
  const counts = Object.entries(scan.counts ?? {}).filter(([, n]) => n);
  const findings = [...(scan.findings ?? []), ...(scan.suppressed ?? [])];
  return [
    h("h3", {}, "Scan ", statusBadge(scan.outcome === "failed" ? "blocked" : scan.outcome)),
    h(
      "p",
      {},
      `Policy ${scan.policy}: `,
      counts.length ? counts.map(([s, n]) => `${n} ${s}`).join(", ") : "no findings",
      scan.skipped ? ` (skipped by ${scan.skipped.by}: ${scan.skipped.reason})` : "",
    ),
    scan.violations?.length ? h("ul", {}, scan.violations.map((v) => h("li", {}, v))) : null,
    reportLinks(scan),
    findings.length
      ? h(
          "table",
          { class: "findings" },
          h("caption", {}, "Findings"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Severity", "Id", "Where", "Title"].map((c) => h("th", { scope: "col" }, c)),
            ),
          ),
          h(
            "tbody",
            {},
            findings.map((f) =>
              h(
                "tr",
                {},
                h(
                  "td",
                  { dataset: { label: "Severity" } },
                  f.severity,
                  f.allowance ? " (allowed)" : "",
                ),
                h("td", { dataset: { label: "Id" } }, f.id),
                h("td", { dataset: { label: "Where" } }, f.target || f.package || ""),
                h("td", { dataset: { label: "Title" } }, f.title),
              ),
            ),
          ),
        )
      : null,
  ];
}
