"""The benchmark: what the harness costs over typing the commands, and what the course teaches.

`python -m bench` measures, side by side in one run, the figures that issue 6
sets targets for, prints them as a table with PASS or MISS against each
target, and writes the same figures as JSON. It needs a Docker engine and
the project's .venv, and nothing else.
"""

import logging

log = logging.getLogger("bench")
