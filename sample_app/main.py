"""simple-app: the small web service this course puts into containers.

GET / answers with a greeting that names the app's version (from APP_VERSION)
and GET /healthz answers "ok". waitress serves it on 0.0.0.0 and the port in
PORT, 8080 when PORT is unset.
"""

import logging
import os
import signal

from flask import Flask, Response
from waitress import serve

log = logging.getLogger("simple-app")


# --8<-- [start:app]
def create_app(version: str) -> Flask:
    """Build the Flask app that answers as simple-app `version`."""
    app = Flask(__name__)

    @app.get("/")
    def greeting() -> Response:
        return Response(f"Hello from simple-app {version}!\n", mimetype="text/plain")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    return app
    # --8<-- [end:app]


# --8<-- [start:stop]
def stop_on_sigterm(signum, frame) -> None:
    """Leave waitress's loop so that the process exits with status 0."""
    # As PID 1 in a container the kernel ignores SIGTERM for a process with no
    # handler, so without this `docker stop` waits 10 s and then kills us.
    log.info("SIGTERM received, stopping")
    raise SystemExit(0)
    # --8<-- [end:stop]


def main() -> None:
    """Serve the app until SIGTERM or Ctrl+C."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    signal.signal(signal.SIGTERM, stop_on_sigterm)

    app = create_app(os.environ.get("APP_VERSION", "dev"))
    serve(app, host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))


if __name__ == "__main__":
    main()
