"""Provisioning for the course: a Docker engine, and the three base images
the pages use, as the official images or as local stand-ins built offline.

`provision/engine.sh` makes sure an engine answers; `python -m provision
images` makes sure python:3.11-bookworm, python:3.11-slim-bookworm and
registry:2 exist. Everything logs to the "provision" logger.
"""
