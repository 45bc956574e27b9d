"""``python -m meshctl.services.auth``: the same as ``meshctl serve auth``."""

import sys

from meshctl.services.launch import main

sys.exit(main("auth"))
