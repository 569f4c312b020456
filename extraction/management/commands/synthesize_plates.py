"""Build the synthetic sky: the whole-sky plate catalogue, and pixel data where asked."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from astropy import units as u
from astropy.coordinates import Angle
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from extraction import synthetic
from extraction.services.synthetic import (
    ScanPlan,
    demo_plans,
    plates_containing,
    scan_around,
    surveys_of,
    synthetic_catalogue_register,
    synthetic_scan_register,
    synthetic_spec,
)


def parse_position(text: str) -> tuple[float, float]:
    """``"RA DEC"`` in degrees (``"11.89 -25.29"``) or sexagesimal (``"0 47 33 -25 17 18"``,
    ``"00:47:33 -25:17:18"``) -> degrees J2000."""
    tokens = text.replace(":", " ").split()
    try:
        if len(tokens) == 2:
            return float(tokens[0]) % 360.0, float(tokens[1])
        if len(tokens) == 6:
            ra = Angle(" ".join(tokens[:3]), unit=u.hourangle).deg
            dec = Angle(" ".join(tokens[3:]), unit=u.deg).deg
            if tokens[3].startswith("-") and dec > 0:
                dec = -dec
            return float(ra), float(dec)
    except ValueError:
        pass
    raise CommandError(
        f"--around {text!r}: give 'RA DEC' in degrees or 'h m s d m s' (e.g. '0 47 33 -25 17 18')."
    )


def _pixel_counter(bar: tqdm, width: int) -> Callable[[int], object]:
    """Advance ``bar`` by the pixels of the rows a renderer reports."""
    return lambda rows: bar.update(rows * width)


class Command(BaseCommand):
    help = (
        "Catalogue the synthetic DSS1/DSS2 plates of the whole sky and render pixel data for "
        "the plates asked for (--demo, --plate, --around). Synthetic plates say so in their "
        "headers and in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--survey", choices=synthetic.SURVEYS, help="only this survey")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="the demo sky (example lines, M31, M42, M51, M101, NGC 253, NGC 7793)",
        )
        parser.add_argument(
            "--plate",
            action="append",
            default=[],
            metavar="ID",
            help="pixel data for this plate (repeatable)",
        )
        parser.add_argument(
            "--around",
            action="append",
            default=[],
            metavar="'RA DEC'",
            help="pixel data on every plate containing this position",
        )
        parser.add_argument(
            "--extent",
            type=int,
            default=None,
            metavar="PIXELS",
            help="partial scans of this many pixels square (default 3000)",
        )
        parser.add_argument("--full", action="store_true", help="whole plates at real size")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--compression", choices=["RICE_1", "HCOMPRESS_1"], default="RICE_1")

    def handle(self, *args: Any, **options: Any) -> None:
        surveys = surveys_of(options["survey"])
        if options["full"] and options["extent"]:
            raise CommandError("--full and --extent exclude each other.")
        if options["extent"] is not None and options["extent"] < 16:
            raise CommandError("--extent must be at least 16 pixels.")
        extent = None if options["full"] else (options["extent"] or 3000)
        with tqdm(desc="catalogue", unit=" plates", disable=None) as bar:
            added = synthetic_catalogue_register(surveys=surveys, progress=bar.update)
        self.stdout.write(f"Catalogue: {added} synthetic plate(s) added.")
        plans = self._plans(options, surveys, extent)
        total = sum(plan.pixels for plan in plans)
        with tqdm(total=total, desc="rendering", unit="px", unit_scale=True, disable=None) as bar:
            for plan in plans:
                plate = synthetic_scan_register(
                    plan,
                    seed=options["seed"],
                    compression=options["compression"],
                    progress=_pixel_counter(bar, plan.nx),
                )
                self.stdout.write(
                    f"  {plate.survey} {plate.plate_id} ({plate.region}, {plate.band}): "
                    f"{plan.nx}x{plan.ny} px at CNPIX {plan.x0},{plan.y0}"
                )
        self.stdout.write(f"{len(plans)} scan(s) rendered, {total / 1e6:.0f} Mpx.")

    def _plans(
        self, options: dict[str, Any], surveys: list[str], extent: int | None
    ) -> list[ScanPlan]:
        plans: list[ScanPlan] = []
        if options["demo"]:
            plans += [p for p in demo_plans() if p.spec.survey in surveys]
        for plate_id in options["plate"]:
            if not re.fullmatch(r"[0-9A-Za-z]{2,6}", plate_id):
                raise CommandError(f"--plate {plate_id!r} is not a plate id (like 04IN).")
            spec = synthetic_spec(plate_id, surveys)
            if spec is None:
                raise CommandError(
                    f"--plate {plate_id}: no synthetic {'/'.join(surveys)} plate has this id."
                )
            plans.append(scan_around(spec, spec.naxis / 2, spec.naxis / 2, extent))
        for position in options["around"]:
            ra, dec = parse_position(position)
            found = plates_containing(ra, dec, surveys)
            if not found:
                raise CommandError(f"--around {position!r}: no synthetic plate contains it.")
            plans += [scan_around(spec, x, y, extent) for spec, x, y in found]
        return plans
