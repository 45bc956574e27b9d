"""``python -m meshctl.services.analytics``: the same as ``meshctl serve analytics``."""

import sys

from meshctl.services.launch import main

sys.exit(main("analytics"))
