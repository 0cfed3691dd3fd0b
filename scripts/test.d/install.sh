#!/usr/bin/env bash
# Installs hostgate the way each ecosystem installs, into prefixes under
# $CARGO_TARGET_DIR/install-tests (emptied on each run), and uses it from there: the C library
# with `cargo cinstall` (C example and C++ test built with nothing but `pkg-config`, shared and
# static), the Go package against that install, the Python wheel in a fresh virtualenv (tests
# run from outside the source tree), the CLI with `cargo install`, the crates with `cargo
# package`, and one version everywhere. Installs what it needs: the pinned cargo-c (crates.io;
# its one-time build takes tens of minutes on 2 cores), Debian's golang-go, g++ and pkg-config,
# setuptools-rust and cffi from PyPI in the virtualenv.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
export CARGO_TARGET_DIR=$target
work=$target/install-tests
rm -rf "$work"
mkdir -p "$work"
step() { printf '\n== install: %s\n' "$*"; }
fail() { echo "install: FAIL: $*" >&2; exit 1; }
start=$(date +%s)

cargo_c_version=0.10.24+cargo-0.98.0
step "tools"
missing=()
command -v go >/dev/null || missing+=(golang-go)
command -v g++ >/dev/null || missing+=(g++)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v readelf >/dev/null || missing+=(binutils)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
if ! cargo cinstall --version 2>/dev/null | grep -qF "${cargo_c_version%%+*}"; then
    echo "cargo-c $cargo_c_version is missing: installing it from crates.io (a one-time build of tens of minutes on 2 cores)"
    cargo install cargo-c --version "=$cargo_c_version" --locked
fi
cargo cinstall --version

version=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "hostgate-ffi"))')
echo "workspace version $version"

step "C library: cargo cinstall into a temporary prefix (shared and static)"
prefix=$work/prefix
cargo cinstall --release --locked -p hostgate-ffi --prefix="$prefix" --libdir="$prefix/lib"
# A second prefix with the archive alone: -lhostgate can only be the static library there.
sprefix=$work/static
cargo cinstall --release --locked -p hostgate-ffi --library-type=staticlib --prefix="$sprefix" --libdir="$sprefix/lib"
(cd "$prefix" && find . -type f -o -type l | sort)
cmp include/hostgate.h "$prefix/include/hostgate/hostgate.h" || fail "installed hostgate.h differs from include/hostgate.h"
cmp bindings/cpp/hostgate.hpp "$prefix/include/hostgate/hostgate.hpp" || fail "installed hostgate.hpp differs"
major_minor=$(echo "$version" | cut -d. -f1-2)
case "$version" in 0.*) soname=libhostgate.so.$major_minor ;; *) soname=libhostgate.so.${version%%.*} ;; esac
readelf -d "$prefix/lib/libhostgate.so" | grep -F "Library soname: [$soname]" || fail "soname is not $soname"
[ -e "$prefix/lib/$soname" ] || fail "no $soname link in lib/"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion hostgate)" = "$version" ] || fail "hostgate.pc version"
pkg-config --cflags --libs hostgate
pkg-config --libs --static hostgate | tee "$work/static-libs"
grep -q -- '-lpthread' "$work/static-libs" || fail "Libs.private lacks the system libraries"

step "C example and C++ test, built with pkg-config only (shared library)"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
gcc -std=c99 -Wall -Wextra -Werror examples/c/check.c $(pkg-config --cflags --libs hostgate) -o "$work/check"
# shellcheck disable=SC2046
g++ -std=c++17 -Wall -Wextra -Werror -pedantic bindings/cpp/test.cpp $(pkg-config --cflags --libs hostgate) -o "$work/test_cpp"
readelf -d "$work/check" | grep -F "Shared library: [$soname]" || fail "check does not need $soname"
LD_LIBRARY_PATH=$prefix/lib "$work/check" api.kadath.io 443 checkout.stripe.com 443 evil.example 80 | tee "$work/check.out"
grep -q '^checkout.stripe.com:443 -> allow' "$work/check.out" || fail "C example verdict"
grep -q '^evil.example:80 -> deny' "$work/check.out" || fail "C example verdict"
LD_LIBRARY_PATH=$prefix/lib "$work/test_cpp" tests/contract

step "C example and C++ test, linked statically (pkg-config --static)"
# shellcheck disable=SC2046
gcc -std=c99 -Wall -Wextra -Werror examples/c/check.c \
    $(PKG_CONFIG_PATH=$sprefix/lib/pkgconfig pkg-config --static --cflags --libs hostgate) -o "$work/check-static"
# shellcheck disable=SC2046
g++ -std=c++17 -Wall -Wextra -Werror -pedantic bindings/cpp/test.cpp \
    $(PKG_CONFIG_PATH=$sprefix/lib/pkgconfig pkg-config --static --cflags --libs hostgate) -o "$work/test_cpp-static"
if readelf -d "$work/check-static" | grep -q libhostgate; then fail "the static build needs libhostgate.so"; fi
"$work/check-static" checkout.stripe.com 443 | grep -q '^checkout.stripe.com:443 -> allow' || fail "static C example"
"$work/test_cpp-static" tests/contract

step "one version: workspace, C header, library, C++ header"
cat > "$work/version.cpp" <<'EOF'
#include <cstdio>
#include "hostgate.hpp"
int main() { std::printf("%s %s %d.%d.%d\n", HOSTGATE_VERSION, hostgate_version(), HOSTGATE_VERSION_MAJOR, HOSTGATE_VERSION_MINOR, HOSTGATE_VERSION_PATCH); }
EOF
# shellcheck disable=SC2046
g++ -std=c++17 "$work/version.cpp" $(pkg-config --cflags --libs hostgate) -o "$work/version"
[ "$(LD_LIBRARY_PATH=$prefix/lib "$work/version")" = "$version $version $version" ] || fail "C/C++ versions"

step "Go against the installed library (pkg-config)"
module=$(sed -n 's/^module //p' bindings/go/go.mod)
repository=$(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml)
[ "$module" = "${repository#*://}/bindings/go" ] || fail "go.mod module $module is not the workspace repository $repository + /bindings/go"
# A build cache of its own: Go's cache does not see what pkg-config answers, so a package built
# earlier against another prefix (or the static archive) would be linked with its old flags.
(cd bindings/go && export GOCACHE=$work/gocache LD_LIBRARY_PATH=$prefix/lib &&
    go vet ./... && go test -count=1 ./...)

step "Python: pip install ./bindings/python in a fresh virtualenv"
venv=$work/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check ./bindings/python pytest
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ls "$site/hostgate"
[ -f "$site/hostgate/libhostgate.abi3.so" ] || fail "the wheel does not carry the library"
[ -f "$site/hostgate/py.typed" ] || fail "the wheel lacks py.typed"
grep -E '^Tag: .*-(linux|manylinux[0-9_]*)_x86_64$' "$site"/hostgate-*.dist-info/WHEEL || fail "the wheel is not platform-tagged"
cd "$work"
env -u HOSTGATE_LIB -u LD_LIBRARY_PATH "$venv/bin/python" -c 'import hostgate, sys; assert hostgate.__file__.startswith(sys.argv[1]), hostgate.__file__' "$site"
env -u HOSTGATE_LIB -u LD_LIBRARY_PATH "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/bindings/python/tests"
# HOSTGATE_LIB overrides the package's library, and only it is tried.
HOSTGATE_LIB=$prefix/lib/libhostgate.so "$venv/bin/python" -c 'import hostgate; print(hostgate.version())'
if HOSTGATE_LIB=$work/no-such.so "$venv/bin/python" -c 'import hostgate' 2>/dev/null; then
    fail "a missing HOSTGATE_LIB fell back to another library"
fi
cd "$root"

step "CLI: cargo install --path crates/hostgate-cli"
cargo install -q --locked --path crates/hostgate-cli --root "$work/cli"
[ "$("$work/cli/bin/hostgate" --version)" = "hostgate $version" ] || fail "hostgate --version"
"$work/cli/bin/hostgate" check --policy examples/policies/egress.policy api.kadath.io | grep -q '^allow api.kadath.io'

step "crates: cargo package for each publishable crate"
publishable=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
m = json.load(sys.stdin)
for p in m["packages"]:
    if p["publish"] == []:
        continue
    missing = [k for k in ("description", "license", "repository", "homepage", "documentation", "readme", "rust_version") if not p.get(k)]
    missing += [k for k in ("keywords", "categories") if not p.get(k)]
    if missing:
        sys.exit(p["name"] + ": no " + ", ".join(missing))
    print(p["name"])
')
echo "$publishable"
args=()
for c in $publishable; do args+=(-p "$c"); done
cargo package -q --no-verify --allow-dirty "${args[@]}"
for c in $publishable; do
    [ -f "$target/package/$c-$version.crate" ] || fail "no package for $c"
done

step "crates: rust-version is what the dependencies need"
# Each published crate's normal dependencies, resolved afresh as a user's build resolves them for
# that rust-version (Cargo's MSRV-aware fallback), must all accept it; with that toolchain
# installed (rustup toolchain list) the crate is also built with it.
for c in $publishable; do
    probe=$work/msrv/$c
    mkdir -p "$probe/src"
    echo 'fn main() {}' > "$probe/src/main.rs"
    cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
name = sys.argv[1]
p = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == name)
print("[package]\nname = \"msrv-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"")
print("rust-version = \"%s\"\n[workspace]\n[dependencies]" % p["rust_version"])
for d in p["dependencies"]:
    if d["kind"] is not None:
        continue
    spec = {"package": d["name"], "features": d["features"], "default-features": d["uses_default_features"]}
    spec["path" if d.get("path") else "version"] = d.get("path") or d["req"]
    fields = ", ".join("%s = %s" % (k, json.dumps(v)) for k, v in spec.items())
    print("dep-%s = { %s }" % (d["name"], fields))
' "$c" > "$probe/Cargo.toml"
    msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' "$probe/Cargo.toml")
    (cd "$probe" && CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile -q &&
        cargo metadata --format-version 1 --filter-platform x86_64-unknown-linux-gnu) | python3 -c '
import json, sys
crate, msrv = sys.argv[1], sys.argv[2]
key = lambda v: tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])
m = json.load(sys.stdin)
pk = {p["id"]: p for p in m["packages"]}
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
root = next(i for i in nodes if pk[i]["name"] == "msrv-probe")
seen, todo = set(), [root]
while todo:
    for d in nodes[todo.pop()]["deps"]:
        if d["pkg"] not in seen and any(k["kind"] is None for k in d["dep_kinds"]):
            seen.add(d["pkg"])
            todo.append(d["pkg"])
need = max(seen, key=lambda i: key(pk[i].get("rust_version") or "0"))
p = pk[need]
print("%s: rust-version %s; the most demanding dependency: %s %s (%s)" % (crate, msrv, p["name"], p["version"], p.get("rust_version")))
if key(p.get("rust_version") or "0") > key(msrv):
    sys.exit("%s: rust-version %s is older than %s needs" % (crate, msrv, p["name"]))
' "$c" "$msrv"
    if rustup toolchain list 2>/dev/null | grep -q "^$msrv"; then
        (cd "$probe" && cargo "+$msrv" check -q)
    else
        echo "$c: no $msrv toolchain installed, not built with it here"
    fi
done

step "all install checks passed in $(( $(date +%s) - start ))s"
