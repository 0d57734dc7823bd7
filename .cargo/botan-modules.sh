#!/usr/bin/env bash
# Prints the [env] section of .cargo/config.toml: the Botan modules the `botan-sm2` build
# turns off. botan-src passes BOTAN_CONFIGURE_DISABLE_MODULES to Botan's configure.py and
# has no switch for its --minimized-build, so the list is every module but the ones a
# minimized build with SM2 (sm2, sm3, pcurves_sm2p256v1), the system RNG and the C FFI
# loads, and the virtual ones that only group others. Run it after a botan-src upgrade:
#   .cargo/botan-modules.sh > .cargo/config.toml && cargo clean -p botan-sys
# (botan-src does not rebuild when the variable changes).
set -euo pipefail
tarball=$(ls ~/.cargo/registry/src/*/botan-src-*/vendor/Botan-*.tar.xz | sort -V | tail -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xJf "$tarball" -C "$work"
cd "$work"/Botan-*/
python3 configure.py --minimized-build --enable-modules=sm2,sm3,pcurves_sm2p256v1,system_rng,ffi \
    --build-targets=static --without-documentation --with-build-dir="$work/build" |
    sed -n 's/.*Loading modules: //p' | tr ' ' '\n' | sort >"$work/keep"
printf '%s\n' codec math misc prov simd compat passhash >>"$work/keep"
find src/lib -name info.txt -exec dirname {} \; | xargs -n1 basename | sort -u >"$work/all"
sort -u -o "$work/keep" "$work/keep"
echo "# Made by .cargo/botan-modules.sh from $(basename "$tarball"); read it before editing."
echo "[env]"
echo "BOTAN_CONFIGURE_DISABLE_MODULES = \"$(comm -23 "$work/all" "$work/keep" | paste -sd, -)\""
