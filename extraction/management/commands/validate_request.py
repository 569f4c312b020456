"""Check a request list without submitting it: a human report, or JSON lines with --json."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from extraction.services.requests import field_expected_bytes, parse_with_limits
from extraction.text.mailtext import decode_text
from extraction.text.requestlist import ParsedLine
from extraction.text.textformat import human_bytes

EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def line_json(line: ParsedLine) -> dict[str, object]:
    spec = line.field
    return {
        "line": line.line_no,
        "ok": spec is not None,
        "error": line.error,
        "identifier": spec.identifier if spec else None,
        "ra_deg": spec.ra_deg if spec else None,
        "dec_deg": spec.dec_deg if spec else None,
        "width_arcmin": spec.width_arcmin if spec else None,
        "height_arcmin": spec.height_arcmin if spec else None,
        "equinox": spec.equinox if spec else None,
        "survey": spec.survey if spec else None,
        "mode": spec.mode if spec else None,
        "plate_id": spec.plate_id if spec else None,
        "compression": spec.compression if spec else None,
    }


class Command(BaseCommand):
    help = "Validate a request list (FILE, or - for standard input) without submitting it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the list, or - to read standard input")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def _read(self, name: str) -> str | None:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            self.stderr.write(f"cannot read {name}: {exc.strerror or exc}")
            return None
        return decode_text(data, None)  # the mail gate's rules: a BOM, UTF-8, else Latin-1

    def handle(self, *args: Any, **options: Any) -> None:
        text = self._read(options["file"])
        if text is None:
            sys.exit(EXIT_UNREADABLE)
        parsed = parse_with_limits(text)
        if options["json"]:
            for line in parsed.lines:
                self.stdout.write(json.dumps(line_json(line)))
        else:
            self._report(parsed.lines)
        if parsed.errors:
            sys.exit(EXIT_INVALID)

    def _report(self, lines: tuple[ParsedLine, ...]) -> None:
        total = 0
        for line in lines:
            if line.field is None:
                self.stdout.write(f"line {line.line_no}: ERROR {line.error}")
                self.stdout.write(f"    {line.raw}")
                continue
            spec = line.field
            size = field_expected_bytes(spec)  # what the receipt counts against the quota
            total += size
            what = spec.file_name if spec.mode.makes_image else "plate list"
            self.stdout.write(
                f"line {line.line_no}: ok  {spec.identifier} -> {what}  "
                f"RA {spec.ra_deg:.5f} Dec {spec.dec_deg:+.5f} (J2000)  "
                f"{spec.width_arcmin:g}'x{spec.height_arcmin:g}' {spec.survey} mode "
                f"{spec.plate_id or spec.mode}  ~{human_bytes(size)}"
            )
        n_ok = sum(1 for line in lines if line.field is not None)
        self.stdout.write(
            f"{n_ok} valid field(s), {len(lines) - n_ok} error(s); expected size "
            f"{human_bytes(total)} uncompressed, as counted against the quota."
        )
