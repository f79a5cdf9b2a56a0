#!/bin/sh
# Run inside the debootstrap tree (chroot) before it is imported: make it the
# kind of base Debian's own container images are (debuerreotype's "slim"
# variant), with no caches, documentation or host files left in the layer.
set -eu

# apt in a build: no package caches, no translations, compressed indexes.
cat >/etc/apt/apt.conf.d/docker-clean <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
echo 'Acquire::Languages "none";' >/etc/apt/apt.conf.d/docker-no-languages
cat >/etc/apt/apt.conf.d/docker-gzip-indexes <<'CONF'
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
CONF
echo 'Apt::AutoRemove::SuggestsImportant "false";' >/etc/apt/apt.conf.d/docker-autoremove-suggests

# Documentation stays out of every later layer too, as in debian:bookworm-slim.
cat >/etc/dpkg/dpkg.cfg.d/docker <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CONF
find /usr/share/doc -depth -type f ! -name copyright -delete
find /usr/share/doc -depth -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/groff/* /usr/share/info/* /usr/share/lintian/* \
    /usr/share/linda/* /usr/share/locale/*

# debootstrap copies these from the machine that ran it; Docker provides its
# own at run time.
rm -f /etc/resolv.conf /etc/hostname

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old \
    /debootstrap
find /var/log -type f -delete
