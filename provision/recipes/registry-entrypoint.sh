#!/bin/sh
# The official registry image's entrypoint: a config file argument means
# `registry serve FILE`; a registry subcommand runs that.
set -e

case "$1" in
    *.yaml|*.yml) set -- registry serve "$@" ;;
    serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac

exec "$@"
