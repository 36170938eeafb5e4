"""``python -m refcrypto`` runs the ``refcrypto`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
