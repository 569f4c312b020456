"""IVOA entry points (SIA-2, DataLink, SODA, MOC, VOSI, VOResource) and the old DSS URLs."""
