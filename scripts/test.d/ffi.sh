#!/usr/bin/env bash
# The C ABI and its bindings: header freshness, the Rust tests of the ABI, C tests under
# ASan/UBSan and valgrind (including threads), the C example, and the C++, Go and Python
# bindings, all running the contract tables in tests/contract/. Installs what it needs (Debian's
# golang-go and valgrind, the pinned cbindgen, cffi and pytest in a virtualenv).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
lib=$target/release
work=$target/ffi-tests
mkdir -p "$work"
step() { printf '\n== ffi: %s\n' "$*"; }
start=$(date +%s)

step "tools"
missing=()
command -v go >/dev/null || missing+=(golang-go)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v g++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
go version

step "header is up to date (pinned cbindgen)"
scripts/gen-header.sh --check

step "build libhostgate (release) and the Rust tests of the ABI"
cargo build --release -p hostgate-ffi
cargo test --release -p hostgate-ffi
native=(-lpthread -ldl -lm)
fixture=crates/hostgate/tests/fixtures/tls-openssl-alpn.bin

step "header compiles standalone as C99/C11 and C++11/C++17"
for std in c99 c11; do
    gcc -std=$std -Wall -Wextra -Werror -pedantic -fsyntax-only -x c include/hostgate.h
done
for std in c++11 c++17; do
    g++ -std=$std -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ include/hostgate.h
done

cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -g -O1 -Iinclude)
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
build_c() { # name extra-flags...
    local name=$1; shift
    local extra=(); [ "$name" = api ] && extra=(tests/c/second_tu.c)
    gcc "${cflags[@]}" "$@" "tests/c/test_$name.c" "${extra[@]}" "$lib/libhostgate.a" "${native[@]}" \
        -o "$work/test_$name$suffix"
}

step "C tests with ASan + UBSan"
suffix=-asan
for t in api contract threads; do build_c $t "${san[@]}"; done
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$work/test_api-asan" "$fixture"
"$work/test_contract-asan" tests/contract
"$work/test_threads-asan" tests/contract 16 20

step "C tests under valgrind"
suffix=-vg
for t in api contract threads; do build_c $t; done
vg=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all --show-leak-kinds=all)
"${vg[@]}" "$work/test_api-vg" "$fixture"
"${vg[@]}" "$work/test_contract-vg" tests/contract
"${vg[@]}" "$work/test_threads-vg" tests/contract 4 2

step "C example"
gcc -std=c99 -Wall -Wextra -Werror -Iinclude examples/c/check.c "$lib/libhostgate.a" "${native[@]}" -o "$work/check"
"$work/check" api.kadath.io 443 checkout.stripe.com 443 evil.example 80 | tee "$work/check.out"
grep -q '^checkout.stripe.com:443 -> allow' "$work/check.out"
grep -q '^evil.example:80 -> deny' "$work/check.out"

step "C++ binding (ASan + UBSan)"
g++ -std=c++17 -Wall -Wextra -Werror -pedantic -g -O1 "${san[@]}" -Iinclude -Ibindings/cpp \
    bindings/cpp/test.cpp "$lib/libhostgate.a" "${native[@]}" -o "$work/test_cpp"
"$work/test_cpp" tests/contract

# The Go and Python bindings as installed (pkg-config, the wheel) are scripts/test.d/install.sh's;
# here they run on this build's library, under the cgo pointer checks.
step "Go binding (static archive: -tags hostgate_static)"
cp "$lib/libhostgate.a" bindings/go/libhostgate.a
(cd bindings/go && go vet -tags hostgate_static ./... \
    && GODEBUG=cgocheck=2 go test -tags hostgate_static -count=1 ./... \
    && go test -tags hostgate_static -count=1 -run '^$' -bench . -benchtime 200000x ./...)

step "Python binding (cffi, the source tree on HOSTGATE_LIB)"
venv=$work/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check cffi pytest
(cd "$work" && PYTHONPATH=$root/bindings/python HOSTGATE_LIB=$lib/libhostgate.so \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/bindings/python/tests")

step "all FFI checks passed in $(( $(date +%s) - start ))s"
