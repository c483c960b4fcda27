#!/bin/sh
# Entry point with the official redis image's contract (see the Dockerfile).
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  protected=1
  if [ -f "${2:-}" ] && grep -q '^protected-mode' "$2"; then protected=; fi
  if [ -n "$protected" ]; then set -- "$@" --protected-mode no; fi
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
