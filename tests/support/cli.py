"""Run the `tessera` admin CLI as a person does: a subprocess of this tree's code
(``python -m tessera --url NODE ...``), its exit code checked, its JSON parsed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QDRANT")}
    env["PYTHONPATH"] = str(REPO)
    env["COLUMNS"] = "200"
    return env


def cli(node, *args: str, code: int | None = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "tessera", "--url", node.url, *args],
                          capture_output=True, text=True, env=cli_env(), timeout=180)
    if code is not None:
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    return done


def cli_json(node, *args: str, code: int | None = 0):
    return json.loads(cli(node, "-o", "json", *args, code=code).stdout)
