"""Lets `python -m course check N` run the learner's check."""

import sys

from .cli import main

sys.exit(main())
