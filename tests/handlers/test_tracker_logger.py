"""What the trackers' loggers share: their packages load only when a logger is created."""

from __future__ import annotations

import subprocess
import sys

TRACKERS = ("wandb", "neptune", "clearml", "visdom", "polyaxon", "polyaxon_client")


def test_importing_the_logger_modules_imports_no_tracker() -> None:
    """ember.handlers, ember.contrib.handlers, logger_utils and every tracker module import none of the packages."""
    code = (
        "import sys\n"
        "import ember.handlers, ember.contrib.handlers, ember.handlers.logger_utils, ember.contrib.engines.common\n"
        "for name in ('wandb', 'neptune', 'clearml', 'visdom', 'polyaxon', 'fbresearch'):\n"
        "    __import__(f'ember.handlers.{name}_logger')\n"
        "    __import__(f'ember.contrib.handlers.{name}_logger') if name != 'fbresearch' else None\n"
        f"print(sorted(name for name in {TRACKERS!r} if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
