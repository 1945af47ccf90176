"""The app factory granian imports in each server process."""

from __future__ import annotations

import os

from litestar import Litestar

from textgate import logs
from textgate.app import create_app
from textgate.settings import Settings


def app() -> Litestar:
    settings = Settings.load()
    logs.setup(settings.log_level)
    return create_app(settings, worker=os.environ.get("TEXTGATE_RUN_WORKER", "1") == "1")
