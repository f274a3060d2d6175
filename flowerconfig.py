"""Flower reads this file from the directory it starts in: ``celery -A tasks flower``.

Basic auth comes from MODELFLEET_FLOWER_USER / MODELFLEET_FLOWER_PASSWORD (or Flower's own
FLOWER_BASIC_AUTH); see worker_config/flower.py.
"""

import os
import sys

from tornado.options import options

from worker_config.errors import ModelfleetError
from worker_config.flower import flower_options
from worker_config.settings import load_settings

try:
    globals().update(flower_options(load_settings(), options))
except ModelfleetError as _exc:
    print(f"modelfleet: {_exc}", file=sys.stderr)
    sys.exit(os.EX_CONFIG)  # 78: a restart cannot fix a wrong setting (systemd unit)
