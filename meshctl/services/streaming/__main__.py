"""``python -m meshctl.services.streaming``: the same as ``meshctl serve streaming``."""

import sys

from meshctl.services.launch import main

sys.exit(main("streaming"))
