"""``python -m cconv ...``: the same as the ``cconv`` command (see :mod:`cconv.cli`)."""
import sys

from .cli import main

sys.exit(main())
