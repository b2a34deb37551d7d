# Sourced, not run: `create_once`, the one way Sluice's scripts make a cached thing (a venv, a Go-built tool, a
# jar directory) that several processes may ask for at the same time on an empty cache.
#
#   create_once DEST KEY BUILD_COMMAND [ARGS...]
#
# DEST is complete when DEST/.sluice-complete holds KEY (say, the pinned versions); then nothing runs. Otherwise
# the caller takes an exclusive flock on DEST.lock, looks again (another process may have finished meanwhile),
# and runs `BUILD_COMMAND ARGS... STAGING` with an empty staging directory beside DEST. BUILD_COMMAND must
# return non-zero when it fails: it runs as an `if` condition, where `set -e` does not stop it. Only a build that
# succeeds is stamped and renamed to DEST, so a half-made DEST is never visible: a killed build leaves a
# `DEST.partial.*` directory, which the next builder removes while it holds the lock.
#
# The build must not bake STAGING's path into what it makes in a way that matters after the rename (a venv's
# `bin/python` works anywhere; run its tools as `python -m pip`, not through their shebang lines).

create_once() {
  local dest=$1 key=$2
  shift 2
  create_once_is_complete "$dest" "$key" && return 0
  mkdir -p "$(dirname "$dest")" || return 1
  # Every step checks its own status: callers may run this where `set -e` is off (inside `$(...)`, `if`, `||`).
  (
    exec 9>"$dest.lock" || exit 1
    flock 9 || exit 1
    create_once_is_complete "$dest" "$key" && exit 0
    rm -rf "$dest".partial.* || exit 1
    echo "create_once: making $dest (once)" >&2
    staging="$dest.partial.$$"
    trap 'rm -rf "$staging"' EXIT
    mkdir -p "$staging" || exit 1
    if ! "$@" "$staging"; then
      echo "create_once: building $dest failed" >&2
      exit 1
    fi
    printf '%s\n' "$key" > "$staging/.sluice-complete" || exit 1
    # An outdated DEST (another KEY, or a build from before the stamp existed) is replaced whole.
    rm -rf "$dest" || exit 1
    mv -T "$staging" "$dest" || exit 1
    trap - EXIT
  )
}

create_once_is_complete() {
  [ -f "$1/.sluice-complete" ] && [ "$(cat "$1/.sluice-complete")" = "$2" ]
}
