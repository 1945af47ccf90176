"""The app factory granian imports in each server process."""

from __future__ import annotations

import gc
import os
import sys

from litestar import Litestar

from textgate import logs
from textgate.app import create_app
from textgate.settings import Settings


def app() -> Litestar:
    # Database work runs on its own threads; with the default 5 ms GIL switch interval each
    # hand-over from a busy event loop costs up to 5 ms. A shorter one keeps commits quick.
    sys.setswitchinterval(0.0005)
    settings = Settings.load()
    logs.setup(settings.log_level)
    # Fewer, cheaper collections: the long-lived start-up objects are frozen out of the
    # collector's scans, and young collections run less often under load.
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    return create_app(settings, worker=os.environ.get("TEXTGATE_RUN_WORKER", "1") == "1")
