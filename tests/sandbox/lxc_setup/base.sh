#!/bin/sh
# Sandbox setup "sandbox_base" (the sandbox's containers reach no package archive, so the
# example's base_setup cannot run here): a service account and a marker, made once.
set -eu
id phoenix-svc >/dev/null 2>&1 || useradd --system --create-home --shell /usr/sbin/nologin phoenix-svc
echo "base 1" > /etc/phoenix-base
