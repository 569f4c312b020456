"""The small core helpers: decimal sizes for people, files that appear whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from extraction.core.files import write_atomically
from extraction.text.textformat import human_bytes


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (1000, "1.0 kB"),
        (720_000, "720.0 kB"),
        (26_000_000, "26.0 MB"),
        (5 * 10**9, "5.0 GB"),
        (3 * 10**15, "3000.0 TB"),
    ],
)
def test_human_bytes_uses_decimal_units(size: int, text: str) -> None:
    assert human_bytes(size) == text


def test_write_atomically_bytes_and_writer(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.fits"
    assert write_atomically(target, b"abc") == 3
    assert write_atomically(target, lambda handle: handle.write(b"12345")) == 5
    assert target.read_bytes() == b"12345"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.fits"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"old")
    scratch = tmp_path / ".partial"

    def broken(handle: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, broken, scratch=scratch)
    assert target.read_bytes() == b"old"
    assert list(scratch.iterdir()) == []
