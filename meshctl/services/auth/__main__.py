"""``python -m meshctl.services.auth``: the same as ``meshctl serve auth``."""

import sys

from meshctl.cli.app import app

app(["serve", "auth", *sys.argv[1:]], prog_name="meshctl")
