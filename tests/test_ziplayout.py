"""The zip layout (extraction/core/ziplayout.py) read back by zipfile and Info-ZIP's unzip."""

from __future__ import annotations

import io
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from extraction.core.ziplayout import CrcCache, ZipMember, zip_layout


def members(folder: Path, sizes: list[int]) -> list[ZipMember]:
    crcs = CrcCache()
    made = []
    for n, size in enumerate(sizes):
        path = folder / f"f{n}.fits"
        path.write_bytes(os.urandom(size))
        os.utime(path, (1_600_000_000 + 2 * n, 1_600_000_000 + 2 * n))
        info, crc = crcs.stat_and_crc(path)
        made.append(ZipMember(f"dss-x/{path.name}", path, info.st_size, info.st_mtime, crc))
    return made


@pytest.mark.parametrize("zip64_limit", [0xFFFFFFFF, 1000], ids=["zip32", "zip64"])
def test_zipfile_and_unzip_read_the_archive_with_its_times(tmp_path: Path, zip64_limit: int):
    listed = members(tmp_path, [0, 1, 5000, 70_000])
    layout = zip_layout(listed, zip64_limit=zip64_limit)
    data = b"".join(layout.read(0, layout.size))
    assert len(data) == layout.size
    archive = tmp_path / "a.zip"
    archive.write_bytes(data)
    with zipfile.ZipFile(archive) as opened:
        assert opened.testzip() is None
        for member, info in zip(listed, opened.infolist(), strict=True):
            assert info.filename == member.name and info.file_size == member.size
            assert opened.read(info) == member.path.read_bytes()
            assert info.date_time == time.localtime(member.mtime)[:6]
    tested = subprocess.run(["unzip", "-t", str(archive)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_range_is_the_slice_of_the_whole(tmp_path: Path):
    layout = zip_layout(members(tmp_path, [10, 3000, 0, 777]))
    whole = b"".join(layout.read(0, layout.size))
    for first in range(0, layout.size, 97):
        for length in (1, 13, 500, layout.size):
            assert b"".join(layout.read(first, length)) == whole[first : first + length]


def test_an_empty_directory_is_an_empty_zip(tmp_path: Path):
    layout = zip_layout([])
    data = b"".join(layout.read(0, layout.size))
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == []


def test_a_non_ascii_name_is_marked_utf8(tmp_path: Path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    info, crc = CrcCache().stat_and_crc(path)
    layout = zip_layout([ZipMember("dss-x/é.fits", path, 3, info.st_mtime, crc)])
    data = b"".join(layout.read(0, layout.size))
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["dss-x/é.fits"]
