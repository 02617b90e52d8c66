"""The sample monorepo Shipline is demonstrated and tested on: a small banking app.

Five services, each a directory with a Dockerfile whose build context is that directory,
built `FROM` a local busybox image (no package manager, no network during the build),
serving a text page with `busybox httpd`. The four backends depend on `libs/common/`;
a change there rebuilds all four. Manifests live in the same repository under
`k8s/manifests/<service>/deployment.yaml`, or, with environments (`shipline demo
--environments`), `k8s/overlays/<environment>/<service>.yaml`: staging takes every push,
production takes what staging runs by itself after a short soak. Only files are written:
git is the caller's.
"""

from __future__ import annotations

from pathlib import Path

# service name -> directory (relative to the repository root, trailing slash)
SERVICES: dict[str, str] = {
    "user-service": "user_service/",
    "account-service": "account_service/",
    "transaction-service": "transaction_service/",
    "notification-service": "notification_service/",
    "frontend": "frontend/",
}
COMMON_LIB = "libs/common/"
APP_FILE = "app.txt"  # the page a service serves; edit it to make a change to one service
PORT = 8080
ENVIRONMENTS = ("staging", "production")
SOAK_SECONDS = 5  # production's wait after staging has it (short: it is a demo)

_PURPOSE = {
    "user-service": "Customers: sign-up, profile and KYC status.",
    "account-service": "Accounts and balances, in integer cents.",
    "transaction-service": "Transfers between accounts, idempotent by request id.",
    "notification-service": "E-mail and SMS notices about account activity.",
    "frontend": "The web front end in front of the four backends.",
}


def write_microbank(
    root: Path, registry: str, base_image: str, environments: bool = False
) -> list[str]:
    """Write the sample monorepo into the existing directory `root`; return the services.
    With `environments`, shipline.yaml lists ENVIRONMENTS and each has its own manifests."""
    registry = registry.strip().rstrip("/")
    if not registry or not base_image.strip():
        raise ValueError("registry and base_image must be non-empty")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not an existing directory")

    _write(root / "shipline.yaml", _shipline_yaml(registry, environments))
    _write(root / "README.md", _readme(registry, environments))
    _write(root / COMMON_LIB / "banking.sh", _BANKING_SH)
    for service, path in SERVICES.items():
        directory = root / path
        _write(directory / "Dockerfile", _dockerfile(service, base_image))
        _write(directory / ".dockerignore", _DOCKERIGNORE)
        _write(directory / "run.sh", _RUN_SH, mode=0o755)
        _write(directory / "VERSION", "1.0.0\n")
        _write(directory / APP_FILE, f"{service} 1.0.0\n{_PURPOSE[service]}\n")
        text = _manifest(service, f"{registry}/{service}:initial")
        for environment in ENVIRONMENTS if environments else (None,):
            _write(root / manifest_path(service, environment), text)
    return list(SERVICES)


def manifest_path(service: str, environment: str | None = None) -> str:
    """Where the sample keeps `service`'s manifest (in `environment`, with environments)."""
    if environment is None:
        return f"k8s/manifests/{service}/deployment.yaml"
    return f"k8s/overlays/{environment}/{service}.yaml"


def touch_service(root: Path, service_path: str, note: str) -> Path:
    """Append `note` as a line to one service's app file and return that file's path."""
    if not note.strip() or "\n" in note or "\r" in note:
        raise ValueError("note must be one non-empty line")
    app_file = root / service_path / APP_FILE
    if not app_file.resolve().is_relative_to(root.resolve()) or not app_file.is_file():
        raise ValueError(f"{service_path!r} is not a service directory of {root}")
    with app_file.open("a", encoding="utf-8") as handle:
        handle.write(note + "\n")
    return app_file


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _shipline_yaml(registry: str, environments: bool) -> str:
    lines = [
        "# Shipline: which services live in this monorepo and how to build them.",
        f"registry: {registry}",
        "gitops:                      # manifests live in this repository",
        "  branch: main",
    ]
    if environments:
        first, then = ENVIRONMENTS
        lines += [
            "environments:",
            f"  - name: {first}             # every push to main deploys here",
            f"  - name: {then}",
            f"    from: {first}             # the image (same digest) {first} runs, never rebuilt",
            f"    approval: auto            # promoted by itself once {first} has it",
            f"    soak_seconds: {SOAK_SECONDS}           # {SOAK_SECONDS} s after it landed there",
        ]
    lines.append("services:")
    for service, path in SERVICES.items():
        depends = f"[{COMMON_LIB}]" if service != "frontend" else "[]"
        lines += [
            f"  {service}:",
            f"    path: {path}",
            f"    depends_on: {depends}",
            f"    dockerfile: {path}Dockerfile",
            f"    context: {path}",
            f"    manifest: {manifest_path(service, '{environment}' if environments else None)}",
        ]
    return "\n".join(lines) + "\n"


def _dockerfile(service: str, base_image: str) -> str:
    return f"""\
# {service}: the build context is this directory (see .dockerignore).
FROM {base_image}

WORKDIR /app
COPY run.sh VERSION {APP_FILE} /app/
RUN chmod +x /app/run.sh \\
 && mkdir -p /app/www \\
 && cp /app/{APP_FILE} /app/www/index.html \\
 && echo ok > /app/www/healthz \\
 && echo "built {service} $(cat /app/VERSION)" > /app/.built

ENV SERVICE_NAME={service} PORT={PORT}
EXPOSE {PORT}
USER 65534:65534
CMD ["/app/run.sh"]
"""


_DOCKERIGNORE = f"""\
# Send the daemon only what the image needs.
*
!run.sh
!VERSION
!{APP_FILE}
"""

_RUN_SH = """\
#!/bin/sh
# Serve the page baked in at build time; stays in the foreground for the container.
set -eu
echo "$(cat /app/.built), listening on :${PORT:-8080}"
exec busybox httpd -f -p "${PORT:-8080}" -h /app/www
"""

_BANKING_SH = """\
#!/bin/sh
# Helpers shared by the backends. Money is always integer cents, never floats.

# format_cents 123456 -> 1234.56
format_cents() {
    printf '%d.%02d\\n' "$(($1 / 100))" "$(($1 % 100))"
}
"""


def _manifest(service: str, image: str) -> str:
    def labels(indent: int) -> str:
        pad = " " * indent
        return f"{pad}app.kubernetes.io/name: {service}\n{pad}app.kubernetes.io/part-of: microbank"

    return f"""\
# {service}: synced to the cluster by Argo CD from this repository.
# Shipline's committer rewrites only the image line below; the rest is yours.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {service}
  labels:
{labels(4)}
spec:
  replicas: 2
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: {service}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}

  template:
    metadata:
      labels:
{labels(8)}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
      containers:
        - name: {service}
          image: {image}  # bumped by Shipline
          ports:
            - name: http
              containerPort: {PORT}
          env:
            - name: PORT
              value: "{PORT}"
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
            initialDelaySeconds: 1
            periodSeconds: 5
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
          resources:
            requests:
              cpu: 10m
              memory: 16Mi
            limits:
              cpu: 100m
              memory: 32Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
---
apiVersion: v1
kind: Service
metadata:
  name: {service}
  labels:
{labels(4)}
spec:
  selector:
    app.kubernetes.io/name: {service}
  ports:
    - name: http
      port: 80
      targetPort: http
"""


def _readme(registry: str, environments: bool) -> str:
    manifest = manifest_path("<service>", "staging" if environments else None)
    rows = "\n".join(
        f"| `{service}` | `{path}` | {_PURPOSE[service]} |" for service, path in SERVICES.items()
    )
    return f"""\
# microbank

A small banking app kept in one repository: the sample monorepo for Shipline.

| service | directory | what it does |
|---|---|---|
{rows}

`{COMMON_LIB}` holds code shared by the four backends; `shipline.yaml` lists it under
their `depends_on`, so a change there rebuilds all four, while a change in one service's
directory rebuilds only that service.

## How a change ships

1. Push a commit that touches a service, e.g. a line added to `user_service/{APP_FILE}`.
2. Shipline builds the service's `Dockerfile` (the build context is its directory),
   pushes `{registry}/<service>:sha-<7 hex>` and scans it.
3. It rewrites the `image:` line of `{manifest}` and commits
   that to `main`; Argo CD syncs the cluster from there.

Each service serves its `{APP_FILE}` on port {PORT} with `busybox httpd`, and `/healthz`
for the readiness probe. `VERSION` is the service's release version.
"""
