"""``python -m meshctl.services.alert``: the same as ``meshctl serve alert``."""

import sys

from meshctl.services.launch import main

sys.exit(main("alert"))
