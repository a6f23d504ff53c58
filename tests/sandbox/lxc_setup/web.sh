#!/bin/sh
# Sandbox setup "sandbox_web": a page naming the container, served on :8080 by Python's
# http.server (the sandbox's containers run no systemd: started in the background, its
# PID in /run/phoenix-web.pid).
set -eu
mkdir -p /srv/www
printf '%s\n' "$PHOENIX_HOSTNAME" > /srv/www/index.html
if ! kill -0 "$(cat /run/phoenix-web.pid 2>/dev/null)" 2>/dev/null; then
    nohup python3 -m http.server 8080 --bind 0.0.0.0 --directory /srv/www \
        >/var/log/phoenix-web.log 2>&1 </dev/null &
    echo $! > /run/phoenix-web.pid
fi
