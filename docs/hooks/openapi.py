"""MkDocs hook: the gateway's OpenAPI description, for the API page's generated reference.

Before each build it runs this file as a script, in a fresh interpreter (so `mkdocs serve`
picks up a changed route), which builds the app as `shipline api` does (`create_app`) and
writes `app.openapi()` to `.shipline/docs/openapi.json`, where docs/api.md's `[OAD(...)]`
reads it (neoteroi-mkdocs renders it, with the templates in docs/hooks/oad/). The site
also serves the file as `openapi.json`.

    python docs/hooks/openapi.py OUTPUT.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

DESCRIPTION = Path(".shipline") / "docs" / "openapi.json"  # relative to mkdocs.yml
TEMPLATES = Path(__file__).parent / "oad"  # a few of essentials-openapi's, adjusted
RENDERER = "neoteroi.mkdocsoad"


def on_config(config: Any) -> Any:
    # set here, not in mkdocs.yml: the plugin takes a plain string, relative to the cwd
    config.plugins[RENDERER].config["templates_path"] = str(TEMPLATES)
    return config


def on_pre_build(config: Any) -> None:
    root = Path(config.config_file_path).parent
    output = root / DESCRIPTION
    output.parent.mkdir(parents=True, exist_ok=True)
    # This checkout's code first; no SHIPLINE_* of the caller's shell: the description
    # never depends on a server's configuration.
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPLINE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(root), env.get("PYTHONPATH"))))
    described = subprocess.run(  # noqa: S603 - this very file, with mkdocs' interpreter
        [sys.executable, __file__, str(output)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if described.returncode != 0:
        raise PluginError(f"the API page needs the app's OpenAPI description:\n{described.stderr}")


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    description = Path(config.config_file_path).parent / DESCRIPTION
    files.append(File.generated(config, "openapi.json", abs_src_path=str(description)))
    return files


def write_description(output: Path) -> None:
    from services.common.settings import Settings
    from services.gateway.app import create_app

    # create_app opens no connection: the description needs no Redis
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    output.write_text(json.dumps(app.openapi(), indent=2) + "\n")


if __name__ == "__main__":
    write_description(Path(sys.argv[1]))
