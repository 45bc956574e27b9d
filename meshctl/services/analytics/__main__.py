"""``python -m meshctl.services.analytics``: the same as ``meshctl serve analytics``."""

import sys

from meshctl.cli.app import app

app(["serve", "analytics", *sys.argv[1:]], prog_name="meshctl")
