#!/usr/bin/env bash
# Builds the optional FUSE binding (fuse-napi) from its own C source with one change, so that hard
# links show as one inode through `imgfs mount`: libfuse 3 passes a filesystem's st_ino to the kernel
# only when the filesystem sets `use_ino` in its init callback's fuse_config (it is no longer a mount
# option), and fuse-napi 2.3.1 has no setting for it. The patch adds `config->use_ino = 1;` beside the
# fuse_config fields the binding already sets.
#
# The result, node_modules/fuse-napi/build/Release/fuse.node, takes precedence over the package's
# prebuilds (its loader prefers a local build). It is a Node-API module, so one build serves Node 22,
# 24 and 26. Needs a C compiler, pkg-config, libfuse3-dev and Node's headers (node_api.h and uv.h).
# It takes about 2 s.
# Without this step imgfs mount still works, with one inode number per name.
set -euo pipefail
cd "$(dirname "$0")/.."
package=node_modules/fuse-napi
[ -f "$package/fuse-native.c" ] || { echo "build-fuse-binding: $package is not installed (npm install fuse-napi)" >&2; exit 1; }

# node_api.h and uv.h: beside a Node tarball's bin/, or where the nodejs package (or libuv1-dev) puts them.
node_dir="$(dirname "$(command -v node)")/../include/node"
find_header() {
  for dir in "$node_dir" /usr/include/node /usr/local/include/node /usr/include; do
    if [ -f "$dir/$1" ]; then echo "$dir"; return; fi
  done
  echo "build-fuse-binding: $1 not found: install Node's headers (the nodejs package; or libuv1-dev for uv.h)" >&2
  exit 1
}
napi_headers="$(find_header node_api.h)"
uv_headers="$(find_header uv.h)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$package/fuse-native.c" "$work/"
anchor='(ft->operation_flags \& FUSE_OPERATION_FLAG_DIRECT_IO) != 0;'
[ "$(grep -c "$anchor" "$work/fuse-native.c")" = 1 ] || {
  echo "build-fuse-binding: $package's source changed (no single fuse_config.direct_io line to patch after)" >&2
  exit 1
}
sed -i "s/$anchor/&\n    config->use_ino = 1; \/* imgfs: the view's st_ino, one per hard-link group *\//" "$work/fuse-native.c"

# The flags of the package's binding.gyp (Linux), without node-gyp: Node-API needs no per-version build.
gcc -shared -fPIC -O2 -std=c11 -Wall -D_FILE_OFFSET_BITS=64 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
  -I"$napi_headers" -I"$uv_headers" -I"node_modules/napi-macros" $(pkg-config --cflags fuse3) \
  "$work/fuse-native.c" -o "$work/fuse.node" $(pkg-config --libs fuse3)
mkdir -p "$package/build/Release"
mv "$work/fuse.node" "$package/build/Release/fuse.node"
echo "build-fuse-binding: $package/build/Release/fuse.node (fuse-napi $(node -p "require('./$package/package.json').version") + use_ino)"
