"""``python -m meshctl.services.alert``: the same as ``meshctl serve alert``."""

import sys

from meshctl.cli.app import app

app(["serve", "alert", *sys.argv[1:]], prog_name="meshctl")
