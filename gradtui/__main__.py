"""Lets ``python -m gradtui`` behave exactly like the ``gradtui`` console script."""

from __future__ import annotations

import sys

from gradtui.cli import main

if __name__ == "__main__":
    sys.exit(main())
