#!/usr/bin/env bash
# Print a working Python 3.10 interpreter (Rasa 3.6 refuses 3.11+), or explain and fail.
set -u
for candidate in python3.10 "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/3.10"*/bin/python3.10)" \
                 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    command -v "$candidate" 2>/dev/null || echo "$candidate"
    exit 0
  fi
done
echo "Python 3.10 not found. Install it (e.g. 'pyenv install 3.10.13') and run make again." >&2
exit 1
