#!/usr/bin/env bash
# The Terraform tool build from the checkout: the script ships in the package (aimachine/tools/build.sh,
# also run by `aimachine tools` from an installed wheel).
exec "$(cd "$(dirname "$0")/.." && pwd)/aimachine/tools/build.sh" "$@"
