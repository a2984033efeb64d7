"""``python -m framestore.view``: the same as ``framestore-view``."""

import sys

from .cli import main

sys.exit(main())
