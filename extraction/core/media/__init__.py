"""The original DSS distribution media (DSS1 discs, RealSky): blocks, headers, plate lists.

Pure Python/numpy/astropy; no Django. Nothing here reads disc material at import time and no
disc material is shipped: tests and benchmarks build their own media in the same layout.

Modules
-------
blocks
    One H-compressed 500x500 block: the stream's fixed header, its conversion to and from
    the FITS ``HCOMPRESS_1`` tile stream, and decoding through astropy's bundled CFITSIO codec.
texts
    The ``<region>.hhh`` plate headers and the ``*.lis`` plate lists.
layout
    Finding plate directories, headers and plate lists under the paths an operator gives,
    and matching them by region.
tiles
    Writing a plate's blocks as the tiles of a tile-compressed FITS plate file, unchanged.
reader
    Reading a box straight from a plate directory (decoding only the blocks it touches).
nominal
    A nominal plate solution for a plate known only from a plate list.
mastering
    Writing plates in the media layout, for tests and benchmarks only.
"""
