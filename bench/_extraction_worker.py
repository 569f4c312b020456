"""Helper of bench_extraction.py: cut one field through the core (no Django), and cut one
60'x60' field in a fresh process and report its peak memory (VmHWM)."""

from __future__ import annotations

from pathlib import Path

from _common import peak_rss_mb


def cut_field(
    path: Path, ra: float, dec: float, size_arcmin: float, out: Path, *, identifier: str = "bench"
) -> int:
    """Cut a square field (side in arcmin) centred on RA/Dec (deg) from the plate at ``path``
    and write it, uncompressed, to ``out``; returns the bytes written."""
    from extraction.core.cut import cut_field as core_cut_field
    from extraction.core.cutout import fits_bytes
    from extraction.core.files import write_atomically
    from extraction.core.platestore import open_plate

    cut = core_cut_field(
        open_plate(path),
        ra_deg=ra,
        dec_deg=dec,
        width_arcmin=size_arcmin,
        height_arcmin=size_arcmin,
        identifier=identifier,
    )
    return write_atomically(out, fits_bytes(cut.cutout), scratch=out.parent / ".partial")


def run(path: Path, ra: float, dec: float, data: Path) -> float:
    """Cut a 60'x60' field into ``data``; this process's peak resident memory in MB."""
    cut_field(path, ra, dec, 60, data / "big.fits", identifier="big")
    return peak_rss_mb()
