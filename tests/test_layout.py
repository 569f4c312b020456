"""The pure floors of the house import no Django: the science core, the text helpers, the
pictures and the synthetic sky can be driven (bench, property tests) without settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = (
    "extraction/core",
    "extraction/text",
    "extraction/pictures",
    "extraction/synthetic",
)


def test_the_pure_packages_import_no_django() -> None:
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in PURE_PACKAGES
        for path in (ROOT / package).rglob("*.py")
    )
    assert "extraction.text.requestlist" in modules and "extraction.synthetic" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "ours = ('django', 'dssportal', 'accounts')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ours))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
