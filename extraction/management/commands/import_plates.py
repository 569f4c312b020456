"""``import_plates PATH... [--survey DSS1|DSS2]``: real DSS scans into the plate store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from dssportal.db import close_stale_connections
from extraction.core.surveys import SURVEYS
from extraction.services.plates import PlateImportError, plate_import_file

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fits.fz", ".fz")


def _expand(paths: list[str]) -> list[Path]:
    """Files as given; a directory stands for the FITS files directly inside it."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.name.lower().endswith(_FITS_SUFFIXES))
        else:
            files.append(path)
    return files


class Command(BaseCommand):
    help = (
        "Import DSS plate scans (whole or partial plates; plain, gzipped or tile-compressed "
        "FITS) into the plate store and the catalogue. Re-importing a plate updates it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="FITS files or directories.")
        parser.add_argument(
            "--survey",
            choices=list(SURVEYS),
            type=str.upper,
            help="The survey; by default inferred from the pixel size (XPIXELSZ).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        files = _expand(options["paths"])
        failed = 0
        # The bar goes to the terminal's stderr (and nowhere when it is not a terminal).
        for path in tqdm(files, unit="file", file=sys.stderr, disable=None, desc="import"):
            close_stale_connections()
            try:
                plate = plate_import_file(path=path, survey=options["survey"])
            except PlateImportError as exc:
                failed += 1
                with tqdm.external_write_mode(file=sys.stderr):
                    self.stderr.write(f"error: {exc}")
                continue
            with tqdm.external_write_mode(file=sys.stderr):
                region = plate.region or "no region"
                self.stdout.write(
                    f"{path}: {plate.survey} plate {plate.plate_id} ({region}), "
                    f"{plate.width_px}x{plate.height_px} px at CNPIX {plate.x0},{plate.y0}"
                )
        if failed:
            raise CommandError(f"{failed} of {len(files)} files not imported (see above)")
        self.stdout.write(f"Imported {len(files)} file(s).")
