"""No shell anywhere in services/: every process is started with an argument list.

An AST scan, so a string that merely mentions `shell=True` does not count and an aliased
import does not hide a call.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
SHELL_FUNCTIONS = {"system", "popen", "getoutput", "getstatusoutput", "spawnl", "spawnlp"}


def _python_files() -> list[Path]:
    files = sorted(SERVICES.rglob("*.py"))
    assert len(files) > 50, f"expected the services package under {SERVICES}"
    return files


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def shell_uses(source: str, filename: str) -> list[str]:
    """Calls passing shell= anything but a literal False, and calls of shell-running helpers."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            literal_false = isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            if keyword.arg == "shell" and not literal_false:
                found.append(f"{filename}:{node.lineno}: shell={ast.unparse(keyword.value)}")
        if _called_name(node) in SHELL_FUNCTIONS:
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node.func)}()")
    return found


def test_no_module_of_services_starts_a_shell() -> None:
    found = [hit for path in _python_files() for hit in shell_uses(path.read_text(), str(path))]
    assert found == []


def test_the_scan_finds_shell_true_and_os_system_when_they_are_there() -> None:
    source = (
        "import subprocess, os\n"
        "subprocess.run('ls', shell=True)\n"
        "flag = True\n"
        "subprocess.Popen('ls', shell=flag)\n"
        "os.system('ls')\n"
        "subprocess.run(['ls'], shell=False)\n"
        "text = 'shell=True'\n"
    )
    assert [hit.split(": ", 1)[1] for hit in shell_uses(source, "x.py")] == [
        "shell=True",
        "shell=flag",
        "os.system()",
    ]
