"""``import_plates PATH... [--survey DSS1|DSS2]``: real DSS scans into the plate store.

``import_plates --media PATH... [--survey DSS1|DSS2] [--dry-run] [--catalogue-only]``: plates
from the original DSS distribution media (discs or copies, headers directories, plate lists).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from dssportal.infra.db import close_stale_connections
from extraction.core.surveys import SURVEYS
from extraction.models import Plate
from extraction.services.media import (
    MediaInventory,
    MediaPlate,
    media_catalogue_register,
    media_inventory,
    media_plate_blocks,
    media_plate_import,
)
from extraction.services.moc import coverage_mocs_refresh
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
        "FITS) into the plate store and the catalogue. Re-importing a plate updates it. "
        "With --media, import plates from the original DSS media: each PATH is a disc (or a "
        "copy), a headers directory or a plate list (lo_comp.lis, hi_comp.lis...)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths",
            nargs="+",
            metavar="PATH",
            help="FITS files or directories; with --media, "
            "discs, headers directories or plate lists.",
        )
        parser.add_argument(
            "--survey",
            choices=list(SURVEYS),
            type=str.upper,
            help="The survey; by default inferred from the pixel size (XPIXELSZ).",
        )
        parser.add_argument(
            "--media",
            action="store_true",
            help="Read the original DSS media layout (plate directories of H-compressed "
            "blocks, <region>.hhh headers, plate lists); plates already stored are skipped.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="With --media: report what was found and what is missing; change nothing.",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=None,
            metavar="N",
            help="With --media: processes decoding (checking) a plate's blocks at once "
            "(default: one per core, at most 8; checking is the import's whole cost).",
        )
        parser.add_argument(
            "--catalogue-only",
            action="store_true",
            help="With --media: catalogue every plate of the lists and headers as known but "
            "offline (no pixels), so that plate lists and the plate finder cover them.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["media"]:
            self._handle_media([Path(p) for p in options["paths"]], options)
            if not options["dry_run"]:
                self._refresh_maps()
            return
        if options["dry_run"] or options["catalogue_only"] or options["jobs"] is not None:
            raise CommandError("--dry-run, --catalogue-only and --jobs go with --media")
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
        if failed < len(files):
            self._refresh_maps()
        if failed:
            raise CommandError(f"{failed} of {len(files)} files not imported (see above)")
        self.stdout.write(f"Imported {len(files)} file(s).")

    def _refresh_maps(self) -> None:
        """The coverage maps (/vo/moc/) of the catalogue as it now is."""
        written = coverage_mocs_refresh()
        self.stdout.write(f"Coverage maps rebuilt ({len(written)} files).")

    # -- The original media ---------------------------------------------------------------

    def _handle_media(self, paths: list[Path], options: dict[str, Any]) -> None:
        survey = options["survey"]
        if options["jobs"] is None:
            options["jobs"] = min(os.cpu_count() or 1, 8)
        if options["jobs"] < 1:
            raise CommandError(f"--jobs must be at least 1, not {options['jobs']}")
        inventory = media_inventory(paths=paths, survey=survey)
        for error in inventory.errors:
            self.stderr.write(f"error: {error}")
        for note in inventory.notes:
            self.stdout.write(f"note: {note}")
        if not inventory.plates:
            raise CommandError(
                "no plate directories, plate headers (.hhh) or plate lists (.lis) found under "
                + ", ".join(str(p) for p in paths)
            )
        if options["dry_run"]:
            self._report(inventory, catalogue_only=options["catalogue_only"])
        elif options["catalogue_only"]:
            self._catalogue(inventory, survey)
        else:
            self._import(inventory, survey, options["jobs"])

    def _report(self, inventory: MediaInventory, *, catalogue_only: bool) -> None:
        counts = {"import": 0, "stored": 0, "problem": 0, "catalogue": 0}
        for region, plate in sorted(inventory.plates.items()):
            name = f"{region}: plate {plate.plate_id or '?'}"
            if catalogue_only:
                if plate.header is not None or (plate.listed and not plate.header_problem):
                    counts["catalogue"] += 1
                    source = "header" if plate.header is not None else "plate list (nominal)"
                    self.stdout.write(f"{name}: would be catalogued from its {source}")
                else:
                    counts["problem"] += 1
                    self.stdout.write(f"{name}: cannot be catalogued: {plate.header_problem}")
            elif plate.blocks is None:
                continue
            elif plate.problem:
                counts["problem"] += 1
                self.stdout.write(f"{name}: cannot be imported: {plate.problem}")
            elif plate.stored:
                counts["stored"] += 1
                self.stdout.write(f"{name}: already stored here, would be skipped")
            else:
                counts["import"] += 1
                self.stdout.write(
                    f"{name}: would be imported ({plate.survey}, {media_plate_blocks(plate)} "
                    f"blocks in {plate.blocks.directory})"
                )
        if catalogue_only:
            self.stdout.write(
                f"Dry run: {counts['catalogue']} plate(s) would be catalogued, "
                f"{counts['problem']} could not be."
            )
            return
        self.stdout.write(
            f"Dry run: {counts['import']} plate(s) would be imported, {counts['stored']} "
            f"already stored, {counts['problem']} cannot be (see above); "
            f"{self._listed_only(inventory)} listed plate(s) have no blocks in these paths."
        )

    @staticmethod
    def _listed_only(inventory: MediaInventory) -> int:
        return sum(1 for p in inventory.plates.values() if p.blocks is None and p.listed)

    def _import(self, inventory: MediaInventory, survey: str | None, jobs: int) -> None:
        imported = skipped = failed = 0
        for region, plate in sorted(inventory.plates.items()):
            if plate.blocks is None:
                continue
            if plate.stored:
                skipped += 1
                self.stdout.write(f"{region}: plate {plate.plate_id} already stored, skipped")
                continue
            close_stale_connections()
            try:
                stored = self._import_one(plate, survey, jobs)
            except PlateImportError as exc:
                failed += 1
                self.stderr.write(f"error: {exc}")
                continue
            imported += 1
            self.stdout.write(
                f"{region}: {stored.survey} plate {stored.plate_id} imported, "
                f"{stored.width_px}x{stored.height_px} px"
            )
        listed_only = self._listed_only(inventory)
        self.stdout.write(
            f"Imported {imported} plate(s), {skipped} already stored"
            + (
                f"; {listed_only} listed plate(s) have no blocks in these paths"
                if listed_only
                else ""
            )
            + "."
        )
        if failed:
            raise CommandError(f"{failed} plate(s) not imported (see above)")

    @staticmethod
    def _import_one(plate: MediaPlate, survey: str | None, jobs: int) -> Plate:
        # One bar per plate, to the terminal's stderr (none when it is not a terminal).
        with tqdm(
            total=media_plate_blocks(plate),
            unit="block",
            file=sys.stderr,
            disable=None,
            desc=f"{plate.plate_id or '?'} ({plate.region})",
            leave=False,
        ) as bar:
            return media_plate_import(plate=plate, survey=survey, progress=bar.update, jobs=jobs)

    def _catalogue(self, inventory: MediaInventory, survey: str | None) -> None:
        done = failed = 0
        for _region, plate in sorted(inventory.plates.items()):
            if plate.header is None and plate.listed is None:
                failed += 1
                self.stderr.write(f"error: plate {plate.region}: {plate.problem}")
                continue
            close_stale_connections()
            try:
                media_catalogue_register(plate=plate, survey=survey)
            except PlateImportError as exc:
                failed += 1
                self.stderr.write(f"error: {exc}")
                continue
            done += 1
        self.stdout.write(f"Catalogued {done} plate(s) (offline unless already stored here).")
        if failed:
            raise CommandError(f"{failed} plate(s) not catalogued (see above)")
