"""The FTP entry point: each user sees only their own staging directories."""
