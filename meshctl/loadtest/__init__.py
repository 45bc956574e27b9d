"""Load generation against mesh services: schedules, request templates and results.

Pure parts (``schedule``, ``template``, ``result``, ``report``; SLOs are
``core.objectives``, shared with ``route shift``) take
numbers and text in and give numbers and text out; ``engine`` drives calls
on one event loop and ``workers`` spreads a run over processes.
"""
