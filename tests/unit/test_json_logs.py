"""ACTION_LINKS_LOG_FORMAT=json: one JSON object per line, extra fields included."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from actionlinks_logging import JsonFormatter
from devstack import ROOT


def test_a_record_is_one_json_line_with_its_extra_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "worker.daemon",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "task %s failed",
            "args": ("t-1",),
            "action": "failed",
            "task_id": "t-1",
            "retries": 2,
        }
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "task t-1 failed"
    assert (entry["level"], entry["logger"]) == ("WARNING", "worker.daemon")
    assert (entry["action"], entry["task_id"], entry["retries"]) == ("failed", "t-1", 2)
    assert entry["time"].endswith("+00:00")


def test_an_exception_stays_inside_the_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def _reap(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actionlinks_cli", "reap"],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )  # fmt: skip


def test_the_command_logs_json_when_asked() -> None:
    result = _reap(ACTION_LINKS_LOG_FORMAT="json", ACTION_LINKS_TYPO="1")
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [(e["level"], e["action"], e["variable"]) for e in lines] == [
        ("WARNING", "unknown_setting", "ACTION_LINKS_TYPO")
    ]


def test_an_unknown_log_format_is_a_configuration_error() -> None:
    result = _reap(ACTION_LINKS_LOG_FORMAT="xml")
    assert result.returncode == 2
    assert "ACTION_LINKS_LOG_FORMAT" in result.stderr and "Traceback" not in result.stderr
