# Stand-in for registry:2, made without a registry: the registry binary of
# Debian's docker-registry package on a root file system holding only what
# `ldd` says it needs, plus busybox for the shell the official (Alpine) image
# has. The .deb files are downloaded by provision/images.py into this context.
ARG ROOTFS

FROM ${ROOTFS} AS files

COPY docker-registry.deb busybox-static.deb /tmp/debs/
COPY ca-certificates.crt /tmp/ca-certificates.crt

RUN set -eux; \
    for deb in /tmp/debs/*.deb; do dpkg-deb --extract "$deb" /tmp/unpacked; done; \
    install -D /tmp/unpacked/usr/bin/docker-registry /out/bin/registry; \
    install -D /tmp/unpacked/bin/busybox /out/bin/busybox; \
    for lib in $(ldd /out/bin/registry | grep -o '/[^ ]*'); do cp --parents -L "$lib" /out; done; \
    for applet in $(/out/bin/busybox --list); do \
        [ -e "/out/bin/$applet" ] || ln -s busybox "/out/bin/$applet"; \
    done; \
    install -D -m 0644 /tmp/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt; \
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >/out/etc/passwd; \
    printf 'root:x:0:\nnogroup:x:65534:\n' >/out/etc/group; \
    mkdir -p /out/root /out/var/lib/registry /out/tmp; \
    chmod 1777 /out/tmp


FROM scratch

ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

COPY --from=files /out/ /
COPY registry-config.yml /etc/docker/registry/config.yml
COPY registry-entrypoint.sh /entrypoint.sh

VOLUME ["/var/lib/registry"]
EXPOSE 5000

ENTRYPOINT ["/entrypoint.sh"]
CMD ["/etc/docker/registry/config.yml"]
