# Stand-ins for python:3.11-slim-bookworm (target slim) and python:3.11-bookworm
# (target full), made without a registry: the base is a debootstrap root file
# system imported by provision/images.py (build argument ROOTFS), and CPython
# is compiled from the pristine source tarball Debian's archive serves. The
# steps follow docker-library/python's Dockerfiles, minus PGO and LTO, which
# would cost many minutes of build for a faster interpreter nobody here times.
ARG ROOTFS

FROM ${ROOTFS} AS runtime

ENV PATH=/usr/local/bin:$PATH
ENV LANG=C.UTF-8

# Trust the machine's CA bundle, which holds the CA of its intercepting proxy.
# Kept under /usr/local/share so that any later update-ca-certificates keeps it.
COPY ca-certificates.crt /usr/local/share/ca-certificates/course-machine-bundle.crt
COPY pip.conf /etc/pip.conf
RUN update-ca-certificates 2>/dev/null

ARG PYTHON_VERSION
ENV PYTHON_VERSION=${PYTHON_VERSION}


# What buildpack-deps:bookworm gives the official full image: compilers,
# curl, git and the common -dev libraries (without the heaviest: ImageMagick,
# MySQL, GLib, Tk, Mercurial, Subversion).
FROM runtime AS buildpack

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        autoconf automake bzip2 dpkg-dev file g++ gcc libtool make patch unzip xz-utils \
        curl gnupg wget git openssh-client procps \
        libbz2-dev libc6-dev libcurl4-openssl-dev libdb-dev libevent-dev libexpat1-dev \
        libffi-dev libgdbm-compat-dev libgdbm-dev libgmp-dev libjpeg-dev libkrb5-dev \
        liblzma-dev libncurses-dev libnsl-dev libpng-dev libpq-dev libreadline-dev \
        libsqlite3-dev libssl-dev libtirpc-dev libxml2-dev libxslt1-dev libyaml-dev \
        uuid-dev zlib1g-dev \
    ; \
    rm -rf /var/lib/apt/lists/*


FROM buildpack AS cpython

# Compressed as Debian serves it (gzip or xz); tar tells which.
COPY cpython-source.tar /usr/src/cpython-source.tar

RUN set -eux; \
    mkdir -p /usr/src/python; \
    tar --extract --directory /usr/src/python --strip-components=1 --file /usr/src/cpython-source.tar; \
    cd /usr/src/python; \
    ./configure \
        --build="$(dpkg-architecture --query DEB_BUILD_GNU_TYPE)" \
        --prefix=/usr/local \
        --enable-loadable-sqlite-extensions \
        --enable-option-checking=fatal \
        --enable-shared \
        --with-system-expat \
        --with-ensurepip=install \
        LDFLAGS='-Wl,-rpath=/usr/local/lib -Wl,--strip-all' \
    ; \
    make -j "$(nproc)"; \
    make install; \
    cd /; \
    rm -rf /usr/src/python /usr/src/cpython-source.tar; \
    find /usr/local -depth \
        \( \
            \( -type d -a \( -name test -o -name tests -o -name idle_test \) \) \
            -o \( -type f -a \( -name '*.pyc' -o -name '*.pyo' -o -name 'libpython*.a' \) \) \
        \) -exec rm -rf '{}' +; \
    ldconfig; \
    for src in idle3 pip3 pydoc3 python3 python3-config; do \
        ln -svT "$src" "/usr/local/bin/$(echo "$src" | tr -d 3)"; \
    done; \
    python --version; \
    pip --version


FROM buildpack AS full

COPY --from=cpython /usr/local/ /usr/local/
RUN ldconfig

CMD ["python3"]


FROM runtime AS slim

COPY --from=cpython /usr/local/ /usr/local/

# Fail the build, rather than a learner's import, if a library CPython was
# linked against in the full stage is missing from the slim root file system.
RUN set -eu; \
    ldconfig; \
    missing="$(find /usr/local -type f -name '*.so*' -exec ldd '{}' + | grep 'not found' || true)"; \
    if [ -n "$missing" ]; then echo "missing shared libraries:" "$missing" >&2; exit 1; fi; \
    python -c 'import bz2, ctypes, curses, dbm.gnu, dbm.ndbm, hashlib, lzma, pyexpat, readline, sqlite3, ssl, uuid, zlib'; \
    for tool in gcc cc curl; do \
        if command -v "$tool"; then echo "the slim stand-in must not have $tool" >&2; exit 1; fi; \
    done

CMD ["python3"]
