"""Builders for plates and requests, going through the same store and services as the portal."""

from __future__ import annotations

import gzip

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.utils.data import get_pkg_data_filename

from extraction.core.surveys import SURVEYS
from extraction.models import Plate
from extraction.services.plates import plate_register

REAL_DSS = get_pkg_data_filename("data/dss.14.29.56-62.41.05.fits.gz", package="astropy.wcs.tests")


def dss_header(
    ra_deg: float,
    dec_deg: float,
    *,
    survey: str = "DSS1",
    plate_id: str = "0T01",
    corner: tuple[int, int] = (0, 0),
    naxis: tuple[int, int] = (600, 600),
    distortion: bool = True,
) -> fits.Header:
    """A DSS plate-solution header for a plate of ``survey`` centred on (ra, dec) J2000.

    The stored image is ``naxis`` pixels with its corner at full-plate pixel ``corner``
    (CNPIX). ``distortion`` adds small second- and third-order AMDX/AMDY terms of the size
    seen on real plates (compare astropy's DSS test header).
    """
    size = SURVEYS[survey].plate_size_px
    pixel_um = SURVEYS[survey].pixel_size_um
    header = fits.Header()
    header["NAXIS"] = 2
    header["NAXIS1"], header["NAXIS2"] = naxis
    header["PLATEID"] = plate_id
    coord = SkyCoord(ra_deg * u.deg, dec_deg * u.deg)
    h, m, s = coord.ra.hms
    _, d, dm, ds = coord.dec.signed_dms
    header["PLTRAH"], header["PLTRAM"], header["PLTRAS"] = int(h), int(m), float(s)
    header["PLTDECSN"] = "-" if dec_deg < 0 else "+"
    header["PLTDECD"], header["PLTDECM"], header["PLTDECS"] = int(d), int(dm), float(ds)
    header["EQUINOX"] = 2000.0
    header["PLTSCALE"] = 67.2
    header["XPIXELSZ"] = header["YPIXELSZ"] = pixel_um
    header["CNPIX1"], header["CNPIX2"] = corner
    for k in range(1, 7):
        header[f"PPO{k}"] = 0.0
    header["PPO3"] = header["PPO6"] = pixel_um * size / 2.0
    for k in range(1, 21):
        header[f"AMDX{k}"] = header[f"AMDY{k}"] = 0.0
    header["AMDX1"] = header["AMDY1"] = 67.2
    if distortion:
        header["AMDX2"], header["AMDY2"] = -0.23, 0.226
        header["AMDX4"], header["AMDX5"], header["AMDX6"] = 1.2e-6, 5.6e-6, -3.8e-5
        header["AMDY4"], header["AMDY5"], header["AMDY6"] = -7.3e-6, 1.95e-5, -5.6e-6
        header["AMDX8"] = header["AMDY8"] = 2.2e-6
        header["AMDX10"] = header["AMDY10"] = 2.3e-6
    return header


def register_plate(
    header: fits.Header,
    *,
    survey: str,
    band: str = "",
    data: np.ndarray | None = None,
    online: bool = True,
    seed: int = 0,
) -> Plate:
    """Catalogue a plate whose digitized extent is the header's image (CNPIX, NAXIS).

    Online plates go through the portal's own ``plate_register`` with ``data`` (or noise);
    offline ones keep the header's extent, which may be a partial scan.
    """
    nx, ny = int(header["NAXIS1"]), int(header["NAXIS2"])
    if online:
        if data is None:
            rng = np.random.default_rng(seed)
            data = rng.integers(3000, 20000, size=(ny, nx), dtype=np.int16)
        return plate_register(header=header, survey=survey, data=data, band=band or None)
    plate = plate_register(header=header, survey=survey, band=band or None)
    Plate.objects.filter(pk=plate.pk).update(
        x0=header["CNPIX1"], y0=header["CNPIX2"], width_px=nx, height_px=ny
    )
    plate.refresh_from_db()
    return plate


def register_real_dss_plate() -> tuple[Plate, np.ndarray, fits.Header]:
    """astropy's real DSS cut-out (plate 0025, region S134) as an online DSS1 plate."""
    with gzip.open(REAL_DSS) as handle, fits.open(handle) as hdul:
        data = hdul[0].data.astype(np.int16)
        header = hdul[0].header.copy()
    plate = register_plate(header.copy(), survey="DSS1", band="B", data=data)
    return plate, data, header
