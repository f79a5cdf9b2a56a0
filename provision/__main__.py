"""python -m provision images: the course's base images, official or stand-in."""

import argparse
import logging
import sys
from pathlib import Path

from . import images
from .commands import ProvisionError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m provision", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    images_parser = commands.add_parser(
        "images", help="make sure the three base images exist, building stand-ins if need be"
    )
    images_parser.add_argument(
        "--cache", type=Path, help="where logs, downloads and build contexts go"
    )
    images_parser.add_argument(
        "--rebuild",
        action="store_true",
        help="build stand-ins even when their recipe is current (the layer cache still applies)",
    )
    images_parser.add_argument("-q", "--quiet", action="store_true", help="print only results")
    images_parser.add_argument("-v", "--verbose", action="store_true", help="print every step")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)

    # Cold provisioning takes minutes: say what is happening, on stderr, so
    # that stdout keeps only the one line per image.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("provision: %(message)s"))
    logger = logging.getLogger("provision")
    logger.addHandler(handler)
    logger.setLevel(
        logging.WARNING if options.quiet else logging.DEBUG if options.verbose else logging.INFO
    )

    try:
        return images.main(options.cache, options.rebuild)
    except ProvisionError as error:
        print(f"provision: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
