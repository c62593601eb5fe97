"""A real Prometheus for the tests: find its binaries (a skip on a developer's machine
without them, a failure in CI, where they must be) and start one scraping vigil."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from support.servers import free_port


def tool(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: the Prometheus tests must run in CI")
        pytest.skip(message)
    return path


def start_prometheus(
    tmp_path: Path, target: str, rules_path: Path, *, timeout_s: float = 10
) -> tuple[subprocess.Popen, httpx.Client]:
    """Prometheus scraping ``target`` (host:port) every second with the rules of
    ``rules_path``, its data under ``tmp_path``; the process and a client of its API.
    The caller stops it (it may still be starting: poll its API)."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules_path)],
                "scrape_configs": [
                    {
                        "job_name": "vigil",
                        "metrics_path": "/metrics",
                        "static_configs": [{"targets": [target]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout_s)
