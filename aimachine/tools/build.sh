#!/usr/bin/env bash
# Build, once per machine, the Terraform tool set pinned in pins.env beside this script:
#   - the bpg/proxmox provider from its Go module, laid out as a Terraform filesystem_mirror;
#   - OpenTofu from its Go module, only when no `terraform` >= TERRAFORM_MIN_VERSION is on PATH;
#   - a CLI configuration that installs bpg/proxmox from that mirror only (no registry);
#   - Ollama from its Go module, packed as its release asset with a sha256sum.txt (the tests' mirror).
# Everything goes to $AIMACHINE_TOOLS_DIR (default ~/.cache/aimachine/tools), outside the checkout.
# A warm run checks what is there and builds nothing. Needs Go (the provider's go.mod wants 1.26).
# The modules are built inside Go's module cache, where their own go.mod and go.sum (replace
# directives included) apply: `go install mod@version` refuses modules with replace directives.
# Two runs at once (two terminals, `make -j`) are safe: one builds while the other waits for its lock
# (flock, where util-linux has it), every file is written under a name of its own and moved into place.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=aimachine/tools/pins.env
. "$here/pins.env"
tools="${AIMACHINE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aimachine/tools}"
say() { printf 'tools: %s\n' "$*" >&2; }
die() { printf 'tools: error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "Go is not installed; it builds ${BPG_PROVIDER_MODULE}@v${BPG_PROVIDER_VERSION} (Go >= 1.26; \`nix develop\` brings Terraform and the registry gives the provider instead)"
platform="$(go env GOOS)_$(go env GOARCH)"
mkdir -p "$tools"
if command -v flock >/dev/null; then
  exec 9>"$tools/.build.lock"
  flock -n 9 || { say "another tools/build.sh is running: waiting for it"; flock 9; }
fi

# write_if_changed FILE TEXT: FILE holds TEXT afterwards, replaced in one step (a reader never sees half)
write_if_changed() {
  local file=$1 text=$2 tmp
  [ -f "$file" ] && [ "$(cat "$file")" = "${text%$'\n'}" ] && return 0
  tmp="$(mktemp "$file.XXXXXX")"
  printf '%s' "$text" >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$file"
}

# go_build MODULE VERSION PACKAGE OUTPUT [LDFLAGS]: fetch MODULE@VERSION from the module proxy, build PACKAGE.
go_build() {
  local module=$1 version=$2 package=$3 output=$4 ldflags=${5:-} log dir tmp
  log="$(mktemp)"
  tmp="$(mktemp "$output.XXXXXX")"
  say "building ${module}@v${version} (first time on this machine: a few minutes)"
  local started=$SECONDS
  if ! dir="$(cd "$tools" && go mod download -json "${module}@v${version}" 2>"$log" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')" \
      || [ -z "$dir" ]; then
    cat "$log" >&2
    rm -f "$tmp"
    die "the Go module proxy did not give ${module}@v${version} (see above); nothing was built"
  fi
  if ! (cd "$dir" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$tmp" "$package") >"$log" 2>&1; then
    grep -E 'reading https?://|40[34]|not available|refused|verifying' "$log" >&2 || cat "$log" >&2
    rm -f "$tmp"
    die "building ${module}@v${version} failed: the modules named above could not be fetched or built"
  fi
  mv -f "$tmp" "$output"
  rm -f "$log"
  say "built ${module}@v${version} in $((SECONDS - started)) s"
}

# --- the provider, as registry.terraform.io/bpg/proxmox in a filesystem mirror -------------------
mirror="$tools/providers"
provider_dir="$mirror/registry.terraform.io/bpg/proxmox/${BPG_PROVIDER_VERSION}/${platform}"
provider="$provider_dir/terraform-provider-proxmox_v${BPG_PROVIDER_VERSION}"
if [ -x "$provider" ]; then
  say "bpg/proxmox ${BPG_PROVIDER_VERSION}: $provider (cached)"
else
  mkdir -p "$provider_dir"
  go_build "$BPG_PROVIDER_MODULE" "$BPG_PROVIDER_VERSION" . "$provider"
fi
# OpenTofu reads `bpg/proxmox` as registry.opentofu.org/bpg/proxmox: the same binary, hard-linked there.
tofu_dir="$mirror/registry.opentofu.org/bpg/proxmox/${BPG_PROVIDER_VERSION}/${platform}"
if [ ! "$tofu_dir/$(basename "$provider")" -ef "$provider" ]; then
  mkdir -p "$tofu_dir"
  link="$(mktemp "$tofu_dir/.link.XXXXXX")"
  ln -f "$provider" "$link" 2>/dev/null || cp -f "$provider" "$link"
  mv -f "$link" "$tofu_dir/$(basename "$provider")"
fi

# --- terraform >= TERRAFORM_MIN_VERSION on PATH, else OpenTofu ----------------------------------
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
terraform_bin=""
if found="$(command -v terraform)"; then
  have="$(TF_CLI_CONFIG_FILE=/dev/null "$found" version 2>/dev/null | sed -n '1s/^Terraform v\([0-9.]*\).*/\1/p')"
  if [ -n "$have" ] && version_at_least "$have" "$TERRAFORM_MIN_VERSION"; then
    terraform_bin="$found"
    say "terraform ${have}: $found (on PATH)"
  else
    say "terraform on PATH is ${have:-of unknown version}, older than ${TERRAFORM_MIN_VERSION}: using OpenTofu"
  fi
fi
if [ -z "$terraform_bin" ]; then
  terraform_bin="$tools/opentofu-${OPENTOFU_VERSION}/tofu"
  if [ -x "$terraform_bin" ]; then
    say "OpenTofu ${OPENTOFU_VERSION}: $terraform_bin (cached)"
  else
    mkdir -p "$(dirname "$terraform_bin")"
    go_build "$OPENTOFU_MODULE" "$OPENTOFU_VERSION" ./cmd/tofu "$terraform_bin"
  fi
fi

# --- Ollama, as its release asset (bin/ollama + lib/ollama/ in ollama-linux-amd64.tar.zst) ----------
# The version is stamped the way Ollama's release build does (-X .../version.Version), else the binary
# reports another one. sha256sum.txt is written in the release's format: `HASH  ./ASSET`.
ollama_root="$tools/ollama-${OLLAMA_VERSION}"
ollama_release="$ollama_root/release/v${OLLAMA_VERSION}"
ollama_asset="ollama-linux-amd64.tar.zst"
if [ -f "$ollama_release/sha256sum.txt" ] && [ -x "$ollama_root/bin/ollama" ]; then
  say "ollama ${OLLAMA_VERSION}: $ollama_release/$ollama_asset (cached)"
else
  command -v zstd >/dev/null || die "zstd is not installed; it packs Ollama's release asset (apt install zstd)"
  mkdir -p "$ollama_root/bin" "$ollama_root/lib/ollama" "$ollama_release"
  go_build "$OLLAMA_MODULE" "$OLLAMA_VERSION" . "$ollama_root/bin/ollama" \
    "-w -s -X=${OLLAMA_MODULE}/version.Version=${OLLAMA_VERSION}"
  tmp="$(mktemp "$ollama_release/.asset.XXXXXX")"
  tar -C "$ollama_root" --owner=0 --group=0 --sort=name -cf - bin lib | zstd -q -c >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$ollama_release/$ollama_asset"
  hash="$(sha256sum "$ollama_release/$ollama_asset" | cut -d' ' -f1)"
  write_if_changed "$ollama_release/sha256sum.txt" "$hash  ./$ollama_asset"$'\n'
fi

# --- the CLI configuration and the summary the tests read ---------------------------------------
rc="$tools/terraform.tfrc"
rc_text="# Written by tools/build.sh: bpg/proxmox from the local mirror only, never from a registry.
provider_installation {
  filesystem_mirror {
    path    = \"$mirror\"
    include = [\"registry.terraform.io/bpg/proxmox\", \"registry.opentofu.org/bpg/proxmox\"]
  }
}
"
write_if_changed "$rc" "$rc_text"
env_text="AIMACHINE_TERRAFORM=$terraform_bin
TF_CLI_CONFIG_FILE=$rc
BPG_PROVIDER_VERSION=$BPG_PROVIDER_VERSION
BPG_PROVIDER_BINARY=$provider
OLLAMA_BINARY=$ollama_root/bin/ollama
OLLAMA_RELEASE=$ollama_root/release"
write_if_changed "$tools/tools.env" "$env_text"$'\n'
say "ready: $tools/tools.env"
printf '%s\n' "$env_text"
