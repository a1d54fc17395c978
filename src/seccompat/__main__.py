"""``python -m seccompat``: the same as the ``seccompat`` command."""

import sys

from .cli import main

sys.exit(main())
