"""Importing plates from the original DSS media: discs (or copies), headers, plate lists.

``media_inventory`` finds what the given paths hold and matches blocks, ``.hhh`` headers and
plate-list records by region; ``media_plate_import`` stores one plate (its blocks become the
``HCOMPRESS_1`` tiles of its plate file, unchanged) and catalogues it;
``media_catalogue_register`` catalogues every listed plate as offline.

A plate is registered only after its file is complete (every block read, decoded and
checked, the file written under a temporary name and renamed), in one transaction: an
interrupted import leaves no plate half visible, and the next run does it again. A plate
already online here is skipped, so a second run over the same discs does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from astropy.io import fits

from extraction.core.media.blocks import BlockError
from extraction.core.media.layout import MediaScan, PlateDirectory, block_grid, scan_media
from extraction.core.media.nominal import listed_band, nominal_header
from extraction.core.media.texts import ListedPlate, MediaTextError, read_hhh, read_plate_list
from extraction.core.media.tiles import plate_tiles, write_tiled_plate
from extraction.models import Plate
from extraction.services.plates import PlateImportError, plate_identity, plate_register
from extraction.services.platestores import local_plate_store


@dataclass
class MediaPlate:
    """One plate (region) found on the media, with what is known and what is missing.

    Attributes
    ----------
    region
        Region id, lower case.
    blocks
        Its blocks, when a plate directory was found.
    header_path, header
        Its ``.hhh`` file and the header read from it.
    listed
        Its plate-list record.
    survey, plate_id
        The catalogue identity, from the header (or the list when there is no header).
    header_problem
        Why its header is unusable; empty when it is fine or absent.
    blocks_problem
        Why its blocks cannot be imported (no header, blocks missing); empty when they can.
    stored
        Already online here (a new import skips it).
    block_copies, header_copies
        Every copy of its blocks and header the scan found; ``blocks`` and ``header_path``
        are the ones chosen (a complete copy, a header that reads).
    notes
        What the choice among copies found (a broken header passed over, copies that
        differ), for the import's report.
    """

    region: str
    blocks: PlateDirectory | None = None
    header_path: Path | None = None
    header: fits.Header | None = None
    listed: ListedPlate | None = None
    survey: str = ""
    plate_id: str = ""
    header_problem: str = ""
    blocks_problem: str = ""
    stored: bool = False
    block_copies: list[PlateDirectory] = field(default_factory=list)
    header_copies: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problem(self) -> str:
        """Why it cannot be imported with its pixels; empty when it can."""
        return self.header_problem or self.blocks_problem

    @property
    def importable(self) -> bool:
        """Blocks and header present, nothing wrong, not yet stored."""
        return self.blocks is not None and not self.problem and not self.stored


@dataclass
class MediaInventory:
    """Everything :func:`media_inventory` found, by region, and what it could not use."""

    plates: dict[str, MediaPlate] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # choices among copies, for the report
    scan: MediaScan = field(default_factory=MediaScan)


def media_inventory(*, paths: list[Path], survey: str | None = None) -> MediaInventory:
    """Scan discs, headers directories and plate lists and say what each plate lacks.

    Parameters
    ----------
    paths
        Mounted discs or copies, headers directories, plate-list or ``.hhh`` files.
    survey
        ``"DSS1"`` or ``"DSS2"``; inferred from each header's XPIXELSZ when omitted.
    """
    inventory = MediaInventory(scan=scan_media(paths))
    scan = inventory.scan
    inventory.errors += [f"{p}: not a disc, headers directory or plate list" for p in scan.unknown]
    for list_path in scan.lists:
        try:
            records = read_plate_list(list_path)
        except MediaTextError as exc:
            inventory.errors.append(str(exc))
            continue
        for record in records:
            plate = inventory.plates.setdefault(
                record.region.lower(), MediaPlate(record.region.lower())
            )
            plate.listed = plate.listed or record
    for region, copies in scan.plate_copies.items():
        inventory.plates.setdefault(region, MediaPlate(region)).block_copies = copies
    for region, header_paths in scan.header_copies.items():
        inventory.plates.setdefault(region, MediaPlate(region)).header_copies = header_paths
    for plate in inventory.plates.values():
        _examine(plate, survey)
        inventory.notes += plate.notes
    return inventory


def _choose_header(plate: MediaPlate, survey: str | None) -> None:
    """The first copy of the plate's header that reads and names the plate; the others
    that do not are reported, and so are readable copies that say something else."""
    problems: list[str] = []
    for path in plate.header_copies:
        try:
            header = read_hhh(path)
            identity = plate_identity(header=header, survey=survey, source=str(path))
        except (MediaTextError, PlateImportError) as exc:
            problems.append(str(exc))
            continue
        if plate.header is None:
            plate.header, plate.header_path = header, path
            plate.survey, plate.plate_id = identity
        elif header.tostring() != plate.header.tostring():
            plate.notes.append(
                f"{plate.region}: the headers {plate.header_path} and {path} differ; "
                f"using {plate.header_path}"
            )
    if plate.header is None:
        if problems:
            plate.header_path = plate.header_copies[0]
            plate.header_problem = "; ".join(problems)
        return
    plate.notes += [f"{p} (another copy of the header is used)" for p in problems]


def _choose_blocks(plate: MediaPlate, shape: tuple[int, int]) -> None:
    """The first complete copy of the plate's blocks (an incomplete first copy on one disc
    must not block a complete one on another); copies whose block sizes differ are
    reported. With no complete copy, the first one (and what it lacks)."""
    complete = [c for c in plate.block_copies if not c.missing(*shape)]
    plate.blocks = complete[0] if complete else plate.block_copies[0]
    for other in plate.block_copies:
        if other is plate.blocks:
            continue
        if other not in complete:
            plate.notes.append(
                f"{plate.region}: {other.directory} lacks {len(other.missing(*shape))} "
                f"block(s); using {plate.blocks.directory}"
            )
        elif _block_sizes(other) != _block_sizes(plate.blocks):
            plate.notes.append(
                f"{plate.region}: the copies in {plate.blocks.directory} and {other.directory} "
                f"differ (block sizes); using {plate.blocks.directory}"
            )


def _block_sizes(copy: PlateDirectory) -> dict[tuple[int, int], int]:
    return {key: path.stat().st_size for key, path in copy.blocks.items()}


def _examine(plate: MediaPlate, survey: str | None) -> None:
    """Read the plate's header, find its identity and what stops its import."""
    if plate.block_copies:
        plate.blocks = plate.block_copies[0]  # until a complete copy is chosen
    if plate.header_copies:
        _choose_header(plate, survey)
        if plate.header_problem:
            return
        _region_conflict(plate)
        if plate.header_problem:
            return
    elif plate.listed is not None:
        plate.survey, plate.plate_id = (survey or "DSS1"), plate.listed.plate_id
    if not plate.block_copies:
        return
    if plate.header is None:
        plate.blocks_problem = (
            f"blocks in {plate.block_copies[0].directory} but no plate header {plate.region}.hhh "
            "(give the headers directory too)"
        )
        return
    shape = _plate_shape(plate.header, plate.header_path)
    if isinstance(shape, str):
        plate.blocks_problem = shape
        return
    _choose_blocks(plate, shape)
    assert plate.blocks is not None
    missing = plate.blocks.missing(*shape)
    if missing:
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        plate.blocks_problem = f"{len(missing)} of {_n_blocks(shape)} blocks missing: {shown}"
        return
    plate.stored = _already_stored(plate.survey, plate.plate_id, plate.header, shape)


def _region_conflict(plate: MediaPlate) -> None:
    """A plate id catalogued here under another region is another plate with the same id,
    or a wrong header: say so instead of "already stored"."""
    region = str(plate.header.get("REGION", plate.region) if plate.header else plate.region)
    other = (
        Plate.objects.filter(survey=plate.survey, plate_id=plate.plate_id)
        .exclude(region__iexact=region)
        .values_list("region", flat=True)
        .first()
    )
    if other:
        plate.header_problem = (
            f"{plate.header_path}: plate {plate.plate_id} of {plate.survey} is catalogued "
            f"here under region {other}, but this header says region {region}; not imported "
            "(check which is right; an operator can delete the wrong catalogue row)"
        )


def _already_stored(
    survey: str, plate_id: str, header: fits.Header, shape: tuple[int, int]
) -> bool:
    """The plate is online here with this very extent and its file is in place.

    A plate online from a partial FITS scan is not "stored": the media's whole plate
    replaces it.
    """
    row = Plate.objects.filter(
        survey=survey,
        plate_id=plate_id,
        online=True,
        x0=int(header.get("CNPIX1", 0)),
        y0=int(header.get("CNPIX2", 0)),
        width_px=shape[1],
        height_px=shape[0],
    ).first()
    return row is not None and local_plate_store().exists(row.data_file)


def _plate_shape(header: fits.Header, source: Path | None) -> tuple[int, int] | str:
    try:
        rows, cols = int(header["NAXIS2"]), int(header["NAXIS1"])
    except (KeyError, TypeError, ValueError):
        return f"{source}: the plate header gives no plate size (NAXIS1, NAXIS2)"
    if not (0 < rows <= 28 * 500 and 0 < cols <= 28 * 500):
        return f"{source}: plate size {cols}x{rows} is not a DSS plate of 28x28 blocks"
    return rows, cols


def _n_blocks(shape: tuple[int, int]) -> int:
    rows, cols = block_grid(*shape)
    return rows * cols


def media_plate_blocks(plate: MediaPlate) -> int:
    """How many blocks the plate's import reads (for a progress bar)."""
    if plate.header is None:
        return 0
    shape = _plate_shape(plate.header, plate.header_path)
    return 0 if isinstance(shape, str) else _n_blocks(shape)


def media_plate_import(
    *,
    plate: MediaPlate,
    survey: str | None = None,
    progress: Callable[[int], object] | None = None,
    jobs: int = 1,
) -> Plate:
    """Store one plate from its blocks and catalogue it online.

    Every block is read and decoded (to find a corrupt one before anything is written),
    then the blocks are written unchanged as the ``HCOMPRESS_1`` tiles of the plate file,
    then the catalogue row is saved. ``jobs`` processes decode blocks at once.

    Raises
    ------
    PlateImportError
        The plate cannot be imported; the message names the plate and, for a bad block,
        the block and its file. Nothing is written or registered.
    """
    label = f"plate {plate.plate_id or '?'} ({plate.region})"
    if plate.problem:
        raise PlateImportError(f"{label}: {plate.problem}")
    if plate.blocks is None or plate.header is None or plate.header_path is None:
        raise PlateImportError(f"{label}: no blocks or no header found")
    shape = _plate_shape(plate.header, plate.header_path)
    if isinstance(shape, str):
        raise PlateImportError(f"{label}: {shape}")
    try:
        tiles, scale = plate_tiles(plate.blocks, shape, progress=progress, jobs=jobs)
    except BlockError as exc:
        raise PlateImportError(f"{label}: {exc}; nothing of this plate was imported") from None

    def store(path: Path, cards: fits.Header) -> None:
        write_tiled_plate(path, tiles, shape, cards, scale=scale)

    return plate_register(
        header=plate.header, survey=survey, store=store, source=str(plate.header_path)
    )


def media_catalogue_register(*, plate: MediaPlate, survey: str | None = None) -> Plate:
    """Catalogue a plate as known (offline unless already online here), without pixels.

    With its ``.hhh`` header the plate gets its real plate solution; with only its
    plate-list record, a nominal one centred on the listed centre (good enough for the plate
    finder and mode ``n``; replaced when the header or the pixels are imported) and the band
    of the emulsion letter ending the list's survey column (``POSS-E``: red).

    Raises
    ------
    PlateImportError
        Neither a usable header nor a plate-list record.
    """
    if plate.header is not None and not plate.header_problem:
        return plate_register(header=plate.header, survey=survey, source=str(plate.header_path))
    if plate.listed is None:
        raise PlateImportError(
            f"plate {plate.region}: {plate.header_problem or 'no plate header and not listed'}"
        )
    header = nominal_header(plate.listed, survey=survey or "DSS1")
    return plate_register(
        header=header,
        survey=survey,
        band=listed_band(plate.listed),
        source=f"plate list ({plate.region})",
    )
