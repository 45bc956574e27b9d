"""``python -m meshctl.services.streaming``: the same as ``meshctl serve streaming``."""

import sys

from meshctl.cli.app import app

app(["serve", "streaming", *sys.argv[1:]], prog_name="meshctl")
