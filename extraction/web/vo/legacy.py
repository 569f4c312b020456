"""The old DSS URLs: STScI's ``/cgi-bin/dss_search`` and ESO's ``/dss/dss``.

Read with those services' parameter meanings (``core.legacyurls``) and served by our
cut-outs under the limits of ``/api/cutout`` (an API token spends its user's allowance;
without one the client address's anonymous limits apply). Errors are ``text/plain``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.http import HttpRequest, HttpResponse

from extraction.core.legacyurls import LegacyField, LegacyRequestError, eso_field, stsci_field
from extraction.services.cutouts import CutoutRefused
from extraction.services.names import NameNotFound, name_resolve
from extraction.services.soda import legacy_cutout
from extraction.web.apiauth import ApiError
from extraction.web.vo.common import (
    cutout_caller,
    file_answer,
    parameters,
    refused,
    text_error,
    unauthorised,
    vo_view,
)


def _serve(request: HttpRequest, read: Callable[[dict[str, str]], LegacyField]) -> HttpResponse:
    params = dict(parameters(request))  # the last value of a repeated name wins, as in CGI
    try:
        field = read(params)
        made = legacy_cutout(caller=cutout_caller(request), field=field)
    except LegacyRequestError as exc:
        return text_error(exc.status, exc.message)
    except ApiError as exc:
        return unauthorised(exc)
    except CutoutRefused as exc:
        return refused(exc)
    return file_answer(made, attachment=field.attachment)


def _position_of(name: str) -> tuple[float, float]:
    """An object's J2000 position by our resolver chain, for ESO's ``name``."""
    try:
        found = name_resolve(name=name)
    except NameNotFound as exc:
        raise LegacyRequestError(exc.status, str(exc)) from None
    return found.ra_deg, found.dec_deg


@vo_view("GET", "POST")
def stsci_dss_search(request: HttpRequest) -> HttpResponse:
    """``/cgi-bin/dss_search?v=&r=&d=&e=&h=&w=&f=&c=``."""
    return _serve(request, stsci_field)


@vo_view("GET", "POST")
def eso_dss(request: HttpRequest) -> HttpResponse:
    """``/dss/dss?ra=&dec=&equinox=&x=&y=&Sky-Survey=&mime-type=`` (or ``name=``), and
    ``/dss/dss/image``."""
    return _serve(request, partial(eso_field, resolve=_position_of))
