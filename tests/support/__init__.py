"""Helpers only this repository's tests need; what users could use is in ``meshctl.testing``."""
