#!/usr/bin/env bash
# Sets up the offline Pulumi toolchain for this project and installs it into the
# project-local PULUMI_HOME (<repo>/.pulumi-home):
#
#   .pulumi-home/bin/pulumi                      the CLI
#   .pulumi-home/bin/pulumi-language-nodejs      the Node.js language host
#   .pulumi-home/bin/pulumi-language-yaml        the Pulumi YAML language host (pulumi-yaml)
#   .pulumi-home/plugins/resource-{tls,docker,command,kubernetes}-vX.Y.Z/   the provider plugins
#
# Nothing is downloaded except Go modules: each binary is built with `go build` from its
# wrapper module in toolchain/<name>/ (pinned go.mod + go.sum; the kubernetes plugin's is
# toolchain/kubernetes-provider/) and cached by version in
# ${MTLS_TOOLCHAIN_CACHE:-$MTLS_CACHE_ROOT/toolchain}/<name>-<version>/, so a warm
# run only checks and links files (seconds). What is already there is used instead:
#   - a `pulumi` on PATH at a usable version (>= MTLS_PULUMI_MIN_VERSION, default 3.270.0),
#     with its own pulumi-language-nodejs (and pulumi-language-yaml) next to it or on PATH;
#   - a plugin of the exact version already installed in the project PULUMI_HOME, or in the
#     user's default Pulumi home (~/.pulumi, or MTLS_AMBIENT_PULUMI_HOME).
# Plugin versions come from node_modules/@pulumi/{tls,docker,command,kubernetes}/package.json
# ("pulumi": {"version"}), so run `npm ci` first; they must equal what the wrappers build.
#
# Usage: scripts/setup-toolchain.sh            then: source scripts/env.sh
# Env:   MTLS_CACHE_ROOT (scripts/env.sh), MTLS_TOOLCHAIN_CACHE, MTLS_PULUMI_MIN_VERSION, MTLS_AMBIENT_PULUMI_HOME,
#        MTLS_TOOLCHAIN_FORCE_BUILD=1 (ignore pulumi on PATH and installed plugins).
# Go's own caches stay in their default places (~/go/pkg/mod, ~/.cache/go-build).
set -euo pipefail

export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=scripts/env.sh
. "$SCRIPT_DIR/env.sh"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd -P)"
TOOLCHAIN_DIR="$REPO_ROOT/toolchain"
PULUMI_HOME_DIR="$REPO_ROOT/.pulumi-home"
BIN_DIR="$PULUMI_HOME_DIR/bin"
CACHE_ROOT="${MTLS_TOOLCHAIN_CACHE:-$MTLS_CACHE_ROOT/toolchain}"
MIN_PULUMI_VERSION="${MTLS_PULUMI_MIN_VERSION:-3.270.0}"
AMBIENT_PULUMI_HOME="${MTLS_AMBIENT_PULUMI_HOME:-$HOME/.pulumi}"
FORCE_BUILD="${MTLS_TOOLCHAIN_FORCE_BUILD:-0}"

# Versions the wrapper modules build. The CLI and language host share one pulumi release.
PULUMI_VERSION="3.274.1"
# The YAML language host's version is the pulumi-yaml release toolchain/language-yaml/go.mod pins.
YAML_PKG="github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"

log_tag="setup-toolchain"
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"

t_start=$(date +%s)
mkdir -p "$BIN_DIR" "$CACHE_ROOT"
export PULUMI_HOME="$PULUMI_HOME_DIR"

# One setup at a time per cache (two concurrent cold builds would double the CPU load).
cache_lock "$CACHE_ROOT/.lock"

# --- helpers -------------------------------------------------------------------------

# version_ge A B: true when semver A >= B (numeric major.minor.patch, leading v ignored).
version_ge() {
    local a="${1#v}" b="${2#v}"
    a="${a%%[-+]*}"
    b="${b%%[-+]*}"
    local IFS=.
    # shellcheck disable=SC2206
    local av=($a) bv=($b)
    for i in 0 1 2; do
        local x="${av[$i]:-0}" y="${bv[$i]:-0}"
        if ((10#$x > 10#$y)); then return 0; fi
        if ((10#$x < 10#$y)); then return 1; fi
    done
    return 0
}

# wrapper_version NAME: the plugin version the wrapper's main.go builds (var Version = "...").
wrapper_version() {
    local f="$TOOLCHAIN_DIR/$1/main.go"
    [[ -f "$f" ]] || die "$1: wrapper module missing ($f)"
    local v
    v="$(sed -n 's/^var Version = "\([^"]*\)".*/\1/p' "$f" | head -n1)"
    [[ -n "$v" ]] || die "$1: cannot read 'var Version = \"...\"' from $f"
    printf '%s' "$v"
}

# npm_plugin_version NAME: "pulumi": {"version"} of node_modules/@pulumi/NAME/package.json.
npm_plugin_version() {
    command -v node >/dev/null 2>&1 || die "$1: node is not on PATH (needed to read node_modules/@pulumi/$1/package.json)"
    local pj="$REPO_ROOT/node_modules/@pulumi/$1/package.json"
    [[ -f "$pj" ]] || die "$1: $pj not found; run 'npm ci' in $REPO_ROOT first (plugin versions are read from node_modules)"
    local v
    v="$(node -e 'const p=require(process.argv[1]); process.stdout.write(String((p.pulumi&&p.pulumi.version)||p.version||""))' "$pj")" ||
        die "$1: cannot parse $pj"
    [[ -n "$v" ]] || die "$1: no pulumi.version in $pj"
    printf '%s' "${v#v}"
}

# wrapper_stamp NAME: hash of the wrapper module's sources (tests excluded: they are not in the
# binary); a cached binary built from other sources (same version, changed wrapper) is rebuilt.
wrapper_stamp() {
    (cd "$TOOLCHAIN_DIR/$1" && find . -type f \( -name '*.go' ! -name '*_test.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

check_go() {
    command -v go >/dev/null 2>&1 || return 1
    local gv
    gv="$(go env GOVERSION 2>/dev/null)" || return 1
    gv="${gv#go}"
    version_ge "$gv" "1.26.6"
}

# ensure_built NAME VERSION BINARY [go build args...]: prints the path of a cached binary,
# building it into the cache first when missing. With PREPARE_BUILD=FUNC the build runs in a
# copy of toolchain/NAME (<cache dir>/src, removed after a successful build) to which
# `FUNC <copy> VERSION` first adds generated files (stdout/stderr go to the build log).
ensure_built() {
    local name="$1" version="$2" binary="$3"
    shift 3
    local dir="$CACHE_ROOT/$name-$version"
    local out="$dir/$binary"
    local stamp
    stamp="$(wrapper_stamp "$name")"
    if [[ -x "$out" && -f "$dir/.wrapper-stamp" && "$(cat "$dir/.wrapper-stamp")" == "$stamp" ]]; then
        log "$name $version: cached ($out)"
        printf '%s' "$out"
        return 0
    fi
    if ! check_go; then
        die "$binary $version is missing and cannot be built: Go >= 1.26.6 is required on PATH (found: $(command -v go >/dev/null 2>&1 && go env GOVERSION || echo none))"
    fi
    mkdir -p "$dir"
    local buildlog="$dir/build.log"
    log "$name $version: building $binary from toolchain/$name (cold builds take minutes; log: $buildlog)"
    local t0 t1
    t0=$(date +%s)
    local build_dir="$TOOLCHAIN_DIR/$name"
    : >"$buildlog"
    if [[ -n "${PREPARE_BUILD:-}" ]]; then
        build_dir="$dir/src"
        rm -rf "$build_dir"
        mkdir -p "$build_dir"
        cp -R "$TOOLCHAIN_DIR/$name/." "$build_dir/"
        if ! "$PREPARE_BUILD" "$build_dir" "$version" >>"$buildlog" 2>&1; then
            tail -n 30 "$buildlog" >&2 || true
            die "$binary $version is missing: preparing the build of toolchain/$name failed (full log: $buildlog)"
        fi
    fi
    if ! (cd "$build_dir" &&
        CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false" \
            go build -trimpath "$@" -o "$out.tmp" "${BUILD_PKG:-.}") >>"$buildlog" 2>&1; then
        rm -f "$out.tmp"
        tail -n 30 "$buildlog" >&2 || true
        die "$binary $version is missing: 'go build' in toolchain/$name failed (full log: $buildlog)"
    fi
    mv -f "$out.tmp" "$out"
    if [[ "$build_dir" == "$dir/src" ]]; then rm -rf "$build_dir"; fi
    printf '%s\n' "$stamp" >"$dir/.wrapper-stamp"
    t1=$(date +%s)
    log "$name $version: built in $((t1 - t0))s"
    printf '%s' "$out"
}

# link_into SRC DEST: hard link (cheap, same file system) or copy.
link_into() {
    local src="$1" dest="$2"
    if [[ -e "$dest" || -L "$dest" ]] && [[ "$(readlink -f "$dest")" == "$(readlink -f "$src")" || "$dest" -ef "$src" ]]; then
        return 0
    fi
    rm -f "$dest"
    ln "$src" "$dest" 2>/dev/null || cp -f "$src" "$dest"
}

# yaml_version: the pulumi-yaml release toolchain/language-yaml/go.mod requires (without the v).
yaml_version() {
    local f="$TOOLCHAIN_DIR/language-yaml/go.mod"
    [[ -f "$f" ]] || die "language-yaml: wrapper module missing ($f)"
    local v
    v="$(sed -n 's/^[[:space:]]*github\.com\/pulumi\/pulumi-yaml \(v[^ ]*\).*/\1/p' "$f" | head -n1)"
    [[ -n "$v" ]] || die "language-yaml: cannot read the github.com/pulumi/pulumi-yaml version from $f"
    printf '%s' "${v#v}"
}

# build_yaml_host: prints the path of the cached pulumi-language-yaml, building it first when missing.
build_yaml_host() {
    local v
    v="$(yaml_version)"
    BUILD_PKG="$YAML_PKG" ensure_built language-yaml "$v" pulumi-language-yaml \
        -tags osusergo,grpcnotrace -ldflags "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=v$v"
}

# --- 1. pulumi CLI and language hosts --------------------------------------------------

# find_external_pulumi: first `pulumi` on PATH that is not one this script installed.
find_external_pulumi() {
    local d cand bin_real cache_real
    bin_real="$(readlink -f "$BIN_DIR")"
    cache_real="$(readlink -f "$CACHE_ROOT")"
    local IFS=:
    for d in $PATH; do
        [[ -n "$d" ]] || continue
        cand="$d/pulumi"
        [[ -f "$cand" && -x "$cand" ]] || continue
        case "$(readlink -f "$d")" in "$bin_real" | "$cache_real"/*) continue ;; esac
        case "$(readlink -f "$cand")" in "$cache_real"/*) continue ;; esac
        printf '%s' "$cand"
        return 0
    done
    return 1
}

use_external_cli=""
if [[ "$FORCE_BUILD" != 1 ]] && ext="$(find_external_pulumi)"; then
    ext_ver="$("$ext" version 2>/dev/null | head -n1 || true)"
    if [[ "$ext_ver" =~ ^v?3\.[0-9]+\.[0-9]+ ]] && version_ge "$ext_ver" "$MIN_PULUMI_VERSION"; then
        use_external_cli="$(readlink -f "$ext")"
        log "pulumi: using $ext ($ext_ver) found on PATH"
    elif [[ -n "$ext_ver" ]]; then
        log "pulumi: ignoring $ext ($ext_ver): need 3.x >= $MIN_PULUMI_VERSION"
    fi
fi

if [[ -n "$use_external_cli" ]]; then
    # The CLI looks for its language host next to its own resolved binary (with
    # PULUMI_IGNORE_AMBIENT_PLUGINS=true, which scripts/env.sh sets, not on PATH).
    if [[ -x "$(dirname "$use_external_cli")/pulumi-language-nodejs" ]]; then
        rm -f "$BIN_DIR/pulumi" "$BIN_DIR/pulumi-language-nodejs" "$BIN_DIR/pulumi-language-yaml"
        ln -s "$use_external_cli" "$BIN_DIR/pulumi"
    else
        log "pulumi-language-nodejs: not next to $use_external_cli; copying that pulumi into $BIN_DIR and building our language host beside it"
        link_into "$use_external_cli" "$BIN_DIR/pulumi"
        lang_bin="$(ensure_built language-nodejs "$PULUMI_VERSION" pulumi-language-nodejs \
            -tags osusergo,grpcnotrace -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION")"
        link_into "$lang_bin" "$BIN_DIR/pulumi-language-nodejs"
        yaml_bin="$(build_yaml_host)"
        link_into "$yaml_bin" "$BIN_DIR/pulumi-language-yaml"
    fi
else
    cli_bin="$(BUILD_PKG=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ensure_built cli "$PULUMI_VERSION" pulumi \
        -tags osusergo,grpcnotrace -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION")"
    link_into "$cli_bin" "$BIN_DIR/pulumi"
    lang_bin="$(ensure_built language-nodejs "$PULUMI_VERSION" pulumi-language-nodejs \
        -tags osusergo,grpcnotrace -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION")"
    link_into "$lang_bin" "$BIN_DIR/pulumi-language-nodejs"
    yaml_bin="$(build_yaml_host)"
    link_into "$yaml_bin" "$BIN_DIR/pulumi-language-yaml"
fi

PULUMI="$BIN_DIR/pulumi"
"$PULUMI" version >/dev/null 2>&1 || die "pulumi: $PULUMI does not run"

# A released pulumi bundles pulumi-language-yaml next to itself. One linked above without it gets
# ours through its plugin cache (the CLI looks there for a language host it does not bundle).
if [[ -L "$BIN_DIR/pulumi" && -n "$use_external_cli" && ! -x "$(dirname "$use_external_cli")/pulumi-language-yaml" ]]; then
    yaml_v="$(yaml_version)"
    yaml_installed="$PULUMI_HOME_DIR/plugins/language-yaml-v$yaml_v/pulumi-language-yaml"
    if [[ -x "$yaml_installed" ]]; then
        log "language-yaml $yaml_v: installed in $PULUMI_HOME_DIR"
    else
        log "language-yaml $yaml_v: not next to $use_external_cli; installing ours into $PULUMI_HOME_DIR/plugins"
        yaml_bin="$(build_yaml_host)"
        if ! "$PULUMI" plugin install language yaml "$yaml_v" --file "$yaml_bin" >"$CACHE_ROOT/plugin-install-yaml.log" 2>&1 ||
            [[ ! -x "$yaml_installed" ]]; then
            log "WARNING: language-yaml $yaml_v: could not install it with $PULUMI (log: $CACHE_ROOT/plugin-install-yaml.log); YAML programs will not run"
        fi
    fi
fi

# --- 2. provider plugins ---------------------------------------------------------------

K8S_PROVIDER_MODULE="github.com/pulumi/pulumi-kubernetes/provider/v4"

# prepare_kubernetes_provider DIR VERSION (a PREPARE_BUILD hook): the provider's main package
# embeds schema-embed.json and terraform-mapping-embed.json, which upstream generates before a
# build and the module zip lacks. Our genembed writes them into DIR (the copy of the wrapper)
# from the module's schema.json (version set to VERSION) and terraform-mapping.json. The module
# cache is only read.
prepare_kubernetes_provider() (
    # A subshell: the cd and GOFLAGS stay here. Every step is checked explicitly (the hook runs
    # as an `if` condition, where set -e does not apply).
    local dir="$1" version="$2" module_dir
    cd "$dir" || return 1
    export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false" CGO_ENABLED=0
    go mod download "$K8S_PROVIDER_MODULE" || return 1
    module_dir="$(go list -m -f '{{.Dir}}' "$K8S_PROVIDER_MODULE")" || return 1
    if [[ ! -f "$module_dir/cmd/pulumi-resource-kubernetes/schema.json" ]]; then
        echo "$K8S_PROVIDER_MODULE: no cmd/pulumi-resource-kubernetes/schema.json in '$module_dir'" >&2
        return 1
    fi
    echo "genembed: $module_dir -> $dir (version $version)"
    go run ./genembed -module-dir "$module_dir" -version "$version" -out "$dir"
)

# Build tags per plugin wrapper. Every build uses upstream's osusergo,grpcnotrace: equal tags
# let builds share compiled packages in Go's build cache (grpc's file set depends on them).
# no_compose leaves out the upstream docker provider's compose resource (not bridged here).
declare -A PLUGIN_TAGS=([command]="osusergo,grpcnotrace" [tls]="osusergo,grpcnotrace" [docker]="osusergo,grpcnotrace,no_compose"
    [kubernetes]="osusergo,grpcnotrace")
PLUGINS=(command tls docker kubernetes)
# Wrapper module per plugin, where it is not toolchain/<plugin> (toolchain/kubernetes/ holds the
# cluster binaries), a PREPARE_BUILD hook where the build needs generated files, and the
# upstream version variable set with -X besides main.Version.
declare -A PLUGIN_WRAPPER=([kubernetes]=kubernetes-provider)
declare -A PLUGIN_PREPARE=([kubernetes]=prepare_kubernetes_provider)
declare -A PLUGIN_VERSION_VAR=([kubernetes]="$K8S_PROVIDER_MODULE/pkg/version.Version")

# Check every version first, so one run reports all mismatches.
declare -A WANT
mismatch=0
for name in "${PLUGINS[@]}"; do
    wrapper="${PLUGIN_WRAPPER[$name]:-$name}"
    want="$(npm_plugin_version "$name")"
    have="$(wrapper_version "$wrapper")"
    if [[ "$want" != "$have" ]]; then
        printf '[setup-toolchain] ERROR: %s: node_modules/@pulumi/%s asks for plugin %s but toolchain/%s builds %s; pin @pulumi/%s to %s in package.json or update toolchain/%s\n' \
            "$name" "$name" "$want" "$wrapper" "$have" "$name" "$have" "$wrapper" >&2
        mismatch=1
    fi
    WANT[$name]="$want"
done
((mismatch == 0)) || die "plugin version mismatch (see above)"

# Plugins that exist only as our own code (no upstream build of the same version behaves the same):
# always built from the wrapper (the cache is keyed on its sources), and reinstalled whenever the
# installed binary differs from that build, so a changed main.go reaches a machine that has the
# old plugin installed. Never taken from the ambient Pulumi home.
declare -A OWN_PLUGIN=([command]=1)

# The real user's path: with a released `pulumi` on PATH, plugins come the normal Pulumi way
# (`pulumi plugin install` from the publisher) before any Go build. Offline, that fails fast, and
# the offline build below takes over; either way the log says which path was taken and why.
acquire_normally() {
    local name="$1" version="$2" log_file="$CACHE_ROOT/plugin-acquire-$1.log"
    [[ -n "$use_external_cli" && "$FORCE_BUILD" != 1 ]] || return 1
    if timeout 120 "$PULUMI" plugin install resource "$name" "$version" >"$log_file" 2>&1; then
        log "$name $version: acquired the normal Pulumi way (pulumi plugin install), as for any Pulumi user"
        return 0
    fi
    log "$name $version: pulumi plugin install failed ($(tail -n 1 "$log_file" | cut -c1-160)); building it offline instead"
    return 1
}

for name in "${PLUGINS[@]}"; do
    version="${WANT[$name]}"
    binary="pulumi-resource-$name"
    wrapper="${PLUGIN_WRAPPER[$name]:-$name}"
    ldflags="-X main.Version=$version"
    if [[ -n "${PLUGIN_VERSION_VAR[$name]:-}" ]]; then ldflags+=" -X ${PLUGIN_VERSION_VAR[$name]}=$version"; fi
    installed="$PULUMI_HOME_DIR/plugins/resource-$name-v$version/$binary"
    reinstall=()
    if [[ -n "$use_external_cli" && "$FORCE_BUILD" != 1 ]]; then
        if [[ -x "$installed" ]]; then
            log "$name $version: already installed in $PULUMI_HOME_DIR"
            continue
        elif acquire_normally "$name" "$version"; then
            continue
        fi
    fi
    if [[ -n "${OWN_PLUGIN[$name]:-}" ]]; then
        src="$(PREPARE_BUILD="${PLUGIN_PREPARE[$name]:-}" ensure_built "$wrapper" "$version" "$binary" -tags "${PLUGIN_TAGS[$name]}" -ldflags "$ldflags")"
        if [[ -x "$installed" ]] && cmp -s "$src" "$installed"; then
            log "$name $version: installed in $PULUMI_HOME_DIR and up to date with toolchain/$wrapper"
            continue
        fi
        if [[ -e "$installed" ]]; then
            log "$name $version: the installed plugin differs from toolchain/$wrapper; reinstalling"
            reinstall=(--reinstall)
        fi
    elif [[ -x "$installed" ]]; then
        log "$name $version: already installed in $PULUMI_HOME_DIR"
        continue
    fi
    ambient="$AMBIENT_PULUMI_HOME/plugins/resource-$name-v$version/$binary"
    if [[ -n "${OWN_PLUGIN[$name]:-}" ]]; then
        : # built above
    elif [[ "$FORCE_BUILD" != 1 && -x "$ambient" && "$(readlink -f "$AMBIENT_PULUMI_HOME")" != "$PULUMI_HOME_DIR" ]]; then
        log "$name $version: using the plugin installed in $AMBIENT_PULUMI_HOME"
        src="$ambient"
    else
        tags=()
        [[ -n "${PLUGIN_TAGS[$name]}" ]] && tags=(-tags "${PLUGIN_TAGS[$name]}")
        src="$(PREPARE_BUILD="${PLUGIN_PREPARE[$name]:-}" ensure_built "$wrapper" "$version" "$binary" "${tags[@]}" -ldflags "$ldflags")"
    fi
    if ! "$PULUMI" plugin install resource "$name" "$version" --file "$src" "${reinstall[@]}" >"$CACHE_ROOT/plugin-install-$name.log" 2>&1; then
        cat "$CACHE_ROOT/plugin-install-$name.log" >&2
        die "$binary $version: 'pulumi plugin install resource $name $version --file $src' failed"
    fi
    [[ -x "$installed" ]] || die "$binary $version: installed, but $installed is missing"
    log "$name $version: installed into $PULUMI_HOME_DIR"
done

log "done in $(($(date +%s) - t_start))s: $("$PULUMI" version) in $BIN_DIR; plugins in $PULUMI_HOME_DIR/plugins"
log "next: source scripts/env.sh"
