#!/usr/bin/env python
"""Django's command-line utility for dssportal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dssportal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A setting's own message names the variable and what to do: no traceback around it.
        sys.exit(f"{os.path.basename(sys.argv[0])}: ImproperlyConfigured: {exc}")


if __name__ == "__main__":
    main()
