"""A synthetic Digitized Sky Survey: plate catalogue, plate solutions and plate pixels.

Pure numpy/astropy/pyongc; no Django. No real plate archive is available here, so the portal
builds a sky in the real DSS format: plates laid out like the real surveys, DSS plate-solution
headers that ``astropy.wcs.WCS`` reads natively, and photographic-looking int16 pixels of one
sky model, so that the same star is at the same RA/Dec on every plate that sees it.

The surveys
-----------
DSS1
    POSS-I E (red, 103aE + red plexiglas, Palomar 48-inch Schmidt, 1949-1958) on a 6 deg grid
    of rings from dec +90 to -30, and SERC J (blue, IIIaJ + GG395, UK 48-inch Schmidt,
    1975-1987) on the 5 deg SERC grid south of the switch-over at dec -32.5. 14000 x 14000
    pixels of 25.28445 um (1.70 arcsec).
DSS2
    Three bands, each covering the whole sky: R (POSS-II F, IIIaF + RG610 / SERC-AAO R, IIIaF +
    OG590), B (POSS-II J, IIIaJ + GG385 / SERC-EJ, IIIaJ + GG395) and I (POSS-II N, IV-N + RG9 /
    SERC I, IV-N + RG715); POSS-II (Palomar, 1985-2000) on a 5 deg grid from +90 to 0, SERC
    fields from -5 to -90, switch-over at dec -2.5. 23040 x 23040 pixels of 15 um
    (1.008 arcsec).

Both Schmidts have a plate scale of 67.2 arcsec/mm; a digitized plate is ~6.5 deg square.
Rings of constant dec carry just enough plates (RA step ~ grid / cos dec) that plates 0.1 deg
smaller than the digitized area would still cover the sky; the polar plates sit 3.6 arcsec
off the pole (see ``_off_pole``).

The sky
-------
Stars are drawn per sky cell (1 deg in dec x ~1 deg on the sky in RA) from a generator seeded
by ``(seed, cell)``, with ``log10 N(<m) = 0.3 m + c`` and a density rising towards the
galactic plane; galaxies, nebulae and globular clusters are the OpenNGC objects (``pyongc``)
at their catalogue positions, sizes, position angles and magnitudes, drawn as Sersic
components (discs with bulges and spiral arms, de Vaucouleurs ellipticals, textured nebulae).
Pixels are exposure through a photographic characteristic curve, with a brightness-dependent
stellar image, sky gradient, vignetting and grain noise fixed per full-plate pixel.

API
---
``PlateSpec``, ``survey_catalogue`` (the plates), ``plate_header`` and ``plate_solution``
(their DSS headers), ``dss_pixel_to_world`` (the DSS plate model, for generating and testing
headers), ``plate_sky_to_pixel`` and ``header_wcs`` (astropy's reading of them),
``sky_stars`` and ``Stars`` (the star model), ``render_plate_pixels`` (pixels of a scan),
``DemoTarget``, ``demo_targets``, ``DemoScan`` and ``demo_scans`` (the demo sky).

Pixel conventions
-----------------
*Image pixels* ``(x, y)`` are 0-based numpy-style pixel centres of a stored image (scan):
``x`` along FITS axis 1 (``array[:, x]``), ``y`` along FITS axis 2 (``array[y, :]``).
*Full-plate DSS pixels* ``(X, Y)`` are the continuous coordinates of the DSS plate model:
``X = CNPIX1 + x + 0.5`` (equivalently ``CNPIX1 + i - 0.5`` for the 1-based FITS pixel
``i``); a full plate of ``N`` pixels spans ``0 <= X <= N`` and its centre is ``X = N / 2``,
the centre of the image (FITS pixel ``(N + 1) / 2``). The *nominal area* of a plate is this
whole digitized square. Sky positions are RA/Dec in degrees, J2000 (FK5).

Everything here is deterministic: the catalogue depends on nothing, pixels on ``seed``.
Nothing here is real data, and every header says so (``SYNTHET = T`` and a COMMENT).

Modules
-------
``survey``
    ``PlateSpec``; the programmes, observatories, grids and layout of DSS1 and DSS2.
``catalogue``
    ``survey_catalogue``: field centres, dates, plate labels and plate ids of every plate.
``headers``
    ``plate_solution``, ``plate_header``, ``dss_pixel_to_world``, ``header_wcs``,
    ``plate_sky_to_pixel``; ``DATA_MIN`` and ``DATA_MAX``.
``stars``
    ``Stars`` and ``sky_stars``: the star model.
``ongc``
    Galaxies, nebulae and globular clusters from OpenNGC as Sersic components.
``photography``
    Band response, the scan frame, sky, vignetting, grain noise and the characteristic curve.
``blobs``
    The OpenNGC components drawn on a scan (discs, spiral arms, nebular textures).
``render``
    ``render_plate_pixels`` and the star images.
``demo``
    ``DemoTarget``, ``demo_targets``, ``DemoScan`` and ``demo_scans``.
``common``
    Array types, stable seeds and spherical geometry shared by the others.

The public names are re-exported here: import them from ``extraction.synthetic``.
Names with a leading underscore are private to the package (its modules share them).
"""

from __future__ import annotations

from extraction.synthetic.catalogue import survey_catalogue
from extraction.synthetic.demo import DemoScan, DemoTarget, demo_scans, demo_targets
from extraction.synthetic.headers import (
    DATA_MAX,
    DATA_MIN,
    dss_pixel_to_world,
    header_wcs,
    plate_header,
    plate_sky_to_pixel,
    plate_solution,
)
from extraction.synthetic.render import render_plate_pixels
from extraction.synthetic.stars import Stars, sky_stars
from extraction.synthetic.survey import (
    DSS1_SWITCH_DEC,
    DSS2_SWITCH_DEC,
    SURVEYS,
    PlateSpec,
)

__all__ = [
    "DATA_MAX",
    "DATA_MIN",
    "DSS1_SWITCH_DEC",
    "DSS2_SWITCH_DEC",
    "SURVEYS",
    "DemoScan",
    "DemoTarget",
    "PlateSpec",
    "Stars",
    "demo_scans",
    "demo_targets",
    "dss_pixel_to_world",
    "header_wcs",
    "plate_header",
    "plate_sky_to_pixel",
    "plate_solution",
    "render_plate_pixels",
    "sky_stars",
    "survey_catalogue",
]
