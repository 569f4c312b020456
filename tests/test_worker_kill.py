"""A worker killed in the middle of writing a file leaves nothing visible and the field is
retried at once; a second worker never steals a field that is still being worked on."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from astropy.io import fits

PROBE = Path(__file__).with_name("worker_probe.py")


def phase(data_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(PROBE), str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def field_row(data_dir: Path, field_id: str) -> tuple[str, str, int]:
    with sqlite3.connect(data_dir / "db.sqlite3") as db:
        return db.execute(
            "SELECT status, output_name, attempts FROM extraction_field WHERE id = ?", (field_id,)
        ).fetchone()


def test_kill_mid_write_leaves_no_partial_file_and_the_field_is_retried(tmp_path: Path) -> None:
    field_id = phase(tmp_path, "setup")
    worker = subprocess.Popen(
        [sys.executable, str(PROBE), str(tmp_path), "extract-hang", field_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "writing"
        partial = list((tmp_path / "staging" / ".partial").glob("*/*.part"))
        assert len(partial) == 1 and partial[0].stat().st_size > 0
        # The request says its field is being worked on, not "queued".
        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            (status,) = db.execute("SELECT status FROM extraction_request").fetchone()
        assert status == "running"
        # Another worker picking up the task while the first still works must not write too.
        assert phase(tmp_path, "extract", field_id) == "not claimed"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    staged = [p for p in (tmp_path / "staging").glob("user-*/*/*")]
    assert staged == [], "a half-written file is visible in the staging directory"
    assert field_row(tmp_path, field_id)[0] == "running"
    # The sweeper removes the dead worker's partial file, and nothing else.
    assert phase(tmp_path, "sweep-scratch") == "removed 1"
    assert list((tmp_path / "staging" / ".partial").glob("*/*")) == []

    # The dead worker's lease went with it: the next worker takes the field over at once,
    # without waiting for the queue's retry delay.
    assert phase(tmp_path, "extract", field_id) == "done"
    status, output_name, attempts = field_row(tmp_path, field_id)
    assert (status, output_name, attempts) == ("done", "real.fits", 2)
    (final,) = list((tmp_path / "staging").glob("user-*/*/real.fits"))
    with fits.open(final) as hdul:
        assert hdul[0].data.shape == (35, 35)
