"""VOTable documents of the IVOA services, written with ``astropy.io.votable``.

DALI conventions: a ``results`` resource holding an ``INFO name="QUERY_STATUS"`` (``OK``,
``OVERFLOW`` when rows were cut at MAXREC, ``ERROR`` with ``UsageError: ...`` text), and the
SODA service descriptor a DataLink or SIA-2 client reads to call ``/vo/soda/sync``. FIELDs and
descriptors are built once per process and shared: writing a document only reads them.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.io.votable.tree import (
    Field,
    Group,
    Info,
    Param,
    Resource,
    TableElement,
    VOTableFile,
)
from astropy.utils.xml.writer import XMLWriter

from extraction.core.obscore import Column

#: The media type every VOTable is served with.
VOTABLE_TYPE = "application/x-votable+xml"
SODA_STANDARD_ID = "ivo://ivoa.net/std/SODA#sync-1.0"
DATALINK_STANDARD_ID = "ivo://ivoa.net/std/DataLink#links-1.1"
#: ID of the DataLink descriptor resource of SIA-2 results.
DATALINK_DESCRIPTOR_ID = "datalink"
#: ID of the SODA descriptor resource; DataLink rows name it in ``service_def``.
SODA_DESCRIPTOR_ID = "soda-sync"

_FORMAT = "tabledata"
_NULL_OF = {"double": np.nan, "float": np.nan, "short": 0, "int": 0, "long": 0}


def _document(status: str, message: str = "") -> tuple[VOTableFile, Resource]:
    votable = VOTableFile(version="1.4")
    resource = Resource(type="results")
    votable.resources.append(resource)
    info = Info(name="QUERY_STATUS", value=status)
    if message:
        info.content = message
    resource.infos.append(info)
    return votable, resource


def serialized(votable: VOTableFile) -> bytes:
    out = io.BytesIO()
    votable.to_xml(out, tabledata_format=_FORMAT)
    return out.getvalue()


def error_document(message: str) -> bytes:
    """The DALI error document: ``QUERY_STATUS`` ``ERROR`` with ``UsageError: <message>``."""
    votable, _resource = _document("ERROR", f"UsageError: {message}")
    return serialized(votable)


def table_document(
    columns: Sequence[Column],
    rows: Sequence[dict[str, object]],
    *,
    overflow: bool = False,
    extra_resources: Sequence[Resource] = (),
    field_ids: dict[str, str] | None = None,
) -> bytes:
    """One results table of ``rows`` (dicts by column name) in column order."""
    votable, resource = _document("OVERFLOW" if overflow else "OK")
    table = TableElement(votable)
    resource.tables.append(table)
    table.fields.extend(_fields(tuple(columns), tuple(sorted((field_ids or {}).items()))))
    table.create_arrays(nrows=len(rows))
    array = table.array
    for column in columns:
        name = column.name
        values = [row.get(name) for row in rows]
        mask = [v is None for v in values]
        filled = [_NULL_OF.get(column.datatype, "") if v is None else v for v in values]
        if column.datatype == "boolean":
            filled = [bool(v) for v in filled]
        if rows:
            array[name] = filled
            array.mask[name] = mask
    votable.resources.extend(extra_resources)
    return serialized(votable)


class _WrittenOnce:
    """An element whose markup astropy writes once, the first time; later documents repeat
    it. For the FIELDs and service descriptors, which are the same in every answer and cost
    astropy most of a document's time (units and attributes are formatted anew each time)."""

    _markup: str | None = None

    def to_xml(self, w: XMLWriter, **kwargs: Any) -> None:
        if self._markup is None:
            buffer = io.StringIO()
            inner = XMLWriter(buffer)
            inner._tags = [""] * len(w._tags)  # the same depth: the same indentation
            super().to_xml(inner, **kwargs)  # type: ignore[misc]
            inner._flush()
            self._markup = buffer.getvalue()
        w._flush()
        w.write(self._markup)


class _SharedField(_WrittenOnce, Field):
    pass


class _SharedResource(_WrittenOnce, Resource):
    pass


@functools.lru_cache(maxsize=16)
def _fields(columns: tuple[Column, ...], field_ids: tuple[tuple[str, str], ...]) -> list[Field]:
    """The FIELDs of a table, built once per process: astropy checks every unit and UCD when
    a Field is made (milliseconds a table), and writing only reads them."""
    votable = VOTableFile(version="1.4")
    ids = dict(field_ids)
    fields = []
    for column in columns:
        field = _SharedField(
            votable,
            name=column.name,
            ID=ids.get(column.name),
            datatype=column.datatype,
            arraysize=column.arraysize,
            unit=column.unit or None,
            ucd=column.ucd or None,
            utype=column.utype or None,
            xtype=column.xtype,
        )
        field.description = column.description or None
        fields.append(field)
    return fields


def _descriptor(
    votable: VOTableFile, standard_id: str, access_url: str, resource_id: str, inputs: list[Param]
) -> Resource:
    resource = _SharedResource(type="meta", utype="adhoc:service", ID=resource_id)
    resource.params.extend(
        [
            Param(votable, name="standardID", datatype="char", arraysize="*", value=standard_id),
            Param(votable, name="accessURL", datatype="char", arraysize="*", value=access_url),
        ]
    )
    group = Group(votable, name="inputParams")
    group.entries.extend(inputs)
    # XML IDs are unique in a document, which may hold several descriptors.
    for param in [*resource.params, *inputs]:
        param.ID = f"{resource_id}_{param.name}"
    group.ID = f"{resource_id}_inputParams"
    resource.groups.append(group)
    return resource


def _id_param(votable: VOTableFile, id_ref: str | None) -> Param:
    return Param(
        votable,
        name="ID",
        datatype="char",
        arraysize="*",
        value="",
        ucd="meta.id;meta.dataset",
        ref=id_ref,
    )


@functools.lru_cache(maxsize=64)
def datalink_descriptor(access_url: str, *, id_ref: str) -> Resource:
    """The ``meta`` resource describing ``/vo/datalink/links`` (DataLink 1.1): the ID
    parameter is the value of the FIELD whose ID is ``id_ref``."""
    votable = VOTableFile(version="1.4")
    return _descriptor(
        votable,
        DATALINK_STANDARD_ID,
        access_url,
        DATALINK_DESCRIPTOR_ID,
        [_id_param(votable, id_ref)],
    )


@functools.lru_cache(maxsize=64)
def soda_descriptor(access_url: str, *, id_ref: str | None = None) -> Resource:
    """The ``meta`` resource describing ``/vo/soda/sync`` (SODA 1.0 sync).

    ``id_ref``: the ID of the FIELD whose value is the ``ID`` parameter (``obs_publisher_did``
    in SIA-2 results, ``ID`` in DataLink ones).
    """
    votable = VOTableFile(version="1.4")
    circle = Param(
        votable,
        name="CIRCLE",
        datatype="double",
        arraysize="3",
        xtype="circle",
        unit="deg",
        ucd="obs.field",
        value="",
    )
    circle.description = "Cut-out around a circle: ra dec radius (deg, ICRS)"
    polygon = Param(
        votable,
        name="POLYGON",
        datatype="double",
        arraysize="*",
        xtype="polygon",
        unit="deg",
        ucd="obs.field",
        value="",
    )
    polygon.description = "Cut-out around a polygon: ra1 dec1 ra2 dec2 ... (deg, ICRS)"
    pos = Param(votable, name="POS", datatype="char", arraysize="*", ucd="obs.field", value="")
    pos.description = "DALI shape: CIRCLE, RANGE or POLYGON (deg, ICRS)"
    return _descriptor(
        votable,
        SODA_STANDARD_ID,
        access_url,
        SODA_DESCRIPTOR_ID,
        [_id_param(votable, id_ref), circle, polygon, pos],
    )
