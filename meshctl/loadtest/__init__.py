"""Load generation against mesh services: schedules, request templates, SLOs and results.

Pure parts (``schedule``, ``template``, ``slo``, ``result``, ``report``) take
numbers and text in and give numbers and text out; ``engine`` drives calls
on one event loop and ``workers`` spreads a run over processes.
"""
