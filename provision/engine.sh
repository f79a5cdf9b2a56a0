#!/usr/bin/env bash
# Make sure a Docker engine answers, starting one if need be.
#
# Exits 0 as soon as `docker info` works (DOCKER_HOST is respected). Otherwise
# installs Debian's docker.io when dockerd is missing, starts dockerd in the
# background and waits for its socket. Every failure prints one line saying
# what failed and what to do, and exits non-zero.
#
# Settings, all optional:
#   DOCKER_HOST              unix:///path/to.sock to start an engine on that socket
#   COURSE_DOCKERD_ARGS      extra dockerd arguments (e.g. --data-root DIR for a second engine)
#   COURSE_DOCKERD_LOG       dockerd's log file (default /var/log/dockerd.log)
#   COURSE_ENGINE_DEADLINE   seconds to wait for the socket (default 45)
set -euo pipefail

deadline_seconds="${COURSE_ENGINE_DEADLINE:-45}"

fail() {
    echo "engine.sh: $*" >&2
    exit 1
}

engine_answers() {
    timeout 10 docker info >/dev/null 2>&1
}

socket_path() {
    case "${DOCKER_HOST:-}" in
        "") echo /var/run/docker.sock ;;
        unix://*) echo "${DOCKER_HOST#unix://}" ;;
        *) fail "DOCKER_HOST=$DOCKER_HOST does not answer and is not a local socket;" \
                "start that engine, or unset DOCKER_HOST to use a local one" ;;
    esac
}

install_docker() {
    if [[ $(id -u) -ne 0 ]]; then
        fail "dockerd is not installed and installing it needs root; run: sudo $0"
    fi

    echo "engine.sh: installing docker.io with apt-get (log: $install_log)" >&2
    # Short network timeouts: on a machine with no archive the script must
    # give up in seconds, not after apt's default minutes of retries.
    local apt_options=(-o Acquire::http::Timeout=15 -o Acquire::Retries=0)
    if ! apt-get "${apt_options[@]}" update >"$install_log" 2>&1 \
        || ! DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install -y \
            --no-install-recommends docker.io >>"$install_log" 2>&1; then
        fail "apt-get could not install docker.io ($(tail -n 1 "$install_log"));" \
             "check the apt mirror, then run $0 again (full log: $install_log)"
    fi
}

# dockerd lives in /usr/sbin, which a non-root PATH may lack; and bash's
# `command -v` names a file it cannot execute when it finds nothing better.
find_dockerd() {
    local candidate
    for candidate in "$(command -v dockerd || true)" /usr/sbin/dockerd; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            echo "$candidate"
            return
        fi
    done
}

alive() {
    [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

running() {
    kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1")" != Z* ]]
}

wait_for_socket() {
    local pid="$1" started="$SECONDS"

    until engine_answers; do
        if ! running "$pid"; then
            echo "engine.sh: dockerd exited before its socket answered; fix what its log says," \
                 "then run $0 again. Last lines of $log_file:" >&2
            tail -n 15 "$log_file" >&2 || true
            exit 1
        fi
        if (( SECONDS - started >= deadline_seconds )); then
            fail "dockerd (pid $pid) did not answer on $socket within" \
                 "${deadline_seconds}s; read $log_file, stop it, and run $0 again"
        fi
        sleep 0.5
    done
}

if engine_answers; then
    exit 0
fi

socket="$(socket_path)"
log_dir=/var/log
[[ -w "$log_dir" ]] || log_dir=/tmp
log_file="${COURSE_DOCKERD_LOG:-$log_dir/dockerd.log}"
install_log="$log_dir/docker-install.log"
if [[ "$socket" == /var/run/docker.sock ]]; then
    pid_file=/var/run/docker.pid
else
    pid_file="${socket%.sock}.pid"
fi

dockerd_path="$(find_dockerd)"
if [[ -z "$dockerd_path" ]]; then
    install_docker
    dockerd_path=/usr/sbin/dockerd
fi
command -v docker >/dev/null || fail "the docker CLI is missing; install docker.io, then run $0"

# docker.io's postinst, or a start moments ago, may already have a dockerd
# coming up: wait for that one rather than start a second on the same socket.
if alive "$pid_file"; then
    engine_pid="$(cat "$pid_file")"
else
    if [[ $(id -u) -ne 0 ]]; then
        fail "no Docker engine answers on $socket and starting dockerd needs root; run: sudo $0"
    fi
    echo "engine.sh: starting dockerd on $socket (log: $log_file)" >&2
    # shellcheck disable=SC2086  # COURSE_DOCKERD_ARGS is a list of words on purpose
    setsid nohup "$dockerd_path" -H "unix://$socket" --pidfile "$pid_file" \
        ${COURSE_DOCKERD_ARGS:-} >>"$log_file" 2>&1 </dev/null &
    engine_pid=$!
fi

export DOCKER_HOST="unix://$socket"
wait_for_socket "$engine_pid"
echo "engine.sh: the Docker engine answers on $socket" >&2
