#!/bin/sh
# A Go child for the project in the current folder, for commands that start
# a runner themselves (`motiad conformance --steps DIR -- sh sdk-go/run.sh`):
# builds .motiad/go/steps from steps/**/*.step.go when a Go file is newer
# than it (the build's output goes to stderr: stdout is the protocol's),
# then runs it.
set -eu
sdk=$(cd "$(dirname "$0")" && pwd)
runner=.motiad/go/steps
if [ ! -x "$runner" ] || [ -n "$(find steps "$sdk" -name '*.go' -newer "$runner" | head -n 1)" ]; then
  # shellcheck disable=SC2046 # step paths have no spaces in our fixtures; the registry passes them one by one
  sh "$sdk/build.sh" . $(find steps -name '*.step.go' | sort) >&2
fi
exec "$runner" "$@"
