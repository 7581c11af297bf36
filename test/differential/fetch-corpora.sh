#!/usr/bin/env bash
# Fetches the tar test files other readers publish, for test/differential: Go's archive/tar testdata
# (golang-1.19-src), Python's tarfile tests (libpython3.11-testsuite) and tar-split's
# (golang-github-vbatts-tar-split-dev). Downloaded with apt-get download and unpacked with dpkg-deb -x
# into a cache directory: nothing is installed. Idempotent: a filled cache is left alone.
#   usage: fetch-corpora.sh [DIR]   (default: $IMGFS_CORPUS_DIR, else ~/.cache/imgfs-test-corpora)
set -euo pipefail
dir="${1:-${IMGFS_CORPUS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgfs-test-corpora}}"
packages=(golang-1.19-src libpython3.11-testsuite golang-github-vbatts-tar-split-dev)
if [ -f "$dir/.complete" ]; then exit 0; fi
mkdir -p "$dir/debs"
cd "$dir/debs"
if ! apt-get download "${packages[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download "${packages[@]}" >/dev/null
fi
# Only the test data is kept (the Go sources alone are 100 MB unpacked): dpkg-deb's data tar is read
# once and only the archives under these folders are written out.
wanted=(./usr/share/go-1.19/src/archive/tar/testdata ./usr/lib/python3.11/test
  ./usr/share/gocode/src/github.com/vbatts/tar-split/archive/tar/testdata
  ./usr/share/gocode/src/github.com/vbatts/tar-split/tar/asm/testdata)
for deb in *.deb; do
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards --no-wildcards-match-slash \
    "${wanted[@]/%//*.tar}" "${wanted[@]/%//*.tar.*}" 2>/dev/null || true
done
rm -rf "$dir/debs"
touch "$dir/.complete"
echo "test corpora in $dir"
