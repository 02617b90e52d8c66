"""Git credentials from the server settings, as the environment of the git commands.

Nothing lands in a URL, an argument list or `.git/config`: an https token becomes an
`Authorization` header through git's `GIT_CONFIG_*` variables; an ssh key becomes
`GIT_SSH_COMMAND` (an inline key is written once to a 0600 file under the work dir).
Prompts are disabled, so a refused credential fails at once instead of hanging.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
from pathlib import Path

from services.common.repository_settings import GitCredentials


def git_env(credentials: GitCredentials | None, key_dir: Path) -> dict[str, str]:
    env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    if credentials is None:
        return env
    if credentials.token is not None:
        pair = f"{credentials.username}:{credentials.token.get_secret_value()}"
        header = "Authorization: Basic " + base64.b64encode(pair.encode()).decode()
        env |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": header,
        }
    key = credentials.ssh_key_file
    if credentials.ssh_key is not None:
        key = _key_file(credentials.ssh_key.get_secret_value(), key_dir)
    if key is not None:
        if credentials.known_hosts_file is not None:
            hosts = ["-o", f"UserKnownHostsFile={credentials.known_hosts_file}"]
            hosts += ["-o", "StrictHostKeyChecking=yes"]
        else:
            hosts = ["-o", f"UserKnownHostsFile={key_dir / 'known_hosts'}"]
            hosts += ["-o", "StrictHostKeyChecking=accept-new"]
        command = ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
        env["GIT_SSH_COMMAND"] = shlex.join(command + hosts)
    return env


def _key_file(key: str, key_dir: Path) -> Path:
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = key_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.key"
    if not path.exists():
        text = key if key.endswith("\n") else key + "\n"  # ssh refuses a key without one
        descriptor = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        path.with_suffix(".tmp").replace(path)
    return path
