#!/usr/bin/env bash
# Builds the optional FUSE binding (fuse-napi) from its own C source with seven changes:
# 1. Hard links show as one inode through `imgfs mount`: libfuse 3 passes a filesystem's st_ino to the
#    kernel only when the filesystem sets `use_ino` in its init callback's fuse_config (it is no longer
#    a mount option), and fuse-napi 2.3.1 has no setting for it.
# 2. Names that are not UTF-8 keep their bytes (the package converts every name as UTF-8).
# 3. File opens cost no request at all.
# 4. Listings carry each entry's attributes, sparing one request per name.
# 5. The empty READDIR that ends each listing is answered without JavaScript.
# 6. The kernel opens directories itself and keeps each listing once made: no request per directory.
# 7. Reads of files stored uncompressed in one piece (pread), and symlink targets, are answered in C.
#
# The result, node_modules/fuse-napi/build/Release/fuse.node, takes precedence over the package's
# prebuilds (its loader prefers a local build). It is a Node-API module, so one build serves Node 22,
# 24 and 26. Needs a C compiler, pkg-config, libfuse3-dev and Node's headers (node_api.h and uv.h).
# It takes about 2 s.
# Without this step imgfs mount still works, with one inode number per name and U+FFFD for bytes
# that are not UTF-8.
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
# napi-macros.h, from the package's own dependency wherever npm placed it.
macros="$(cd "$package" && node -p "require('path').dirname(require.resolve('napi-macros/package.json'))")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$package/fuse-native.c" "$work/"
source="$work/fuse-native.c"
# Replaces every occurrence of $1 (a fixed string) by $2, and fails unless there were exactly $3.
patch_source() {
  local found
  found="$(FROM="$1" perl -0ne 'print scalar(() = /\Q$ENV{FROM}\E/g)' "$source")"
  if [ "$found" != "$3" ]; then
    echo "build-fuse-binding: $package's source changed: '$1' found $found times, not $3" >&2
    exit 1
  fi
  FROM="$1" TO="$2" perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/g' "$source"
}
# 1. use_ino: the view's st_ino reaches the kernel, one inode per hard-link group.
patch_source '(ft->operation_flags & FUSE_OPERATION_FLAG_DIRECT_IO) != 0;' \
  '(ft->operation_flags & FUSE_OPERATION_FLAG_DIRECT_IO) != 0;
    config->use_ino = 1; /* imgfs */' 1
# 2. Names as bytes: paths, directory entries and link targets cross as Latin-1 strings (one char per
#    byte) instead of UTF-8, which turns bytes that are not UTF-8 into U+FFFD in both directions.
#    lib/mount/binding-names.ts converts; the marker below tells it to.
patch_source 'napi_create_string_utf8(env, (path),' 'napi_create_string_latin1(env, (path),' 1
patch_source 'napi_create_string_utf8(env, l->path,' 'napi_create_string_latin1(env, l->path,' 20
patch_source 'napi_create_string_utf8(env, l->dest,' 'napi_create_string_latin1(env, l->dest,' 3
patch_source 'napi_get_value_string_utf8(env, raw_name,' 'napi_get_value_string_latin1(env, raw_name,' 2
patch_source 'napi_get_value_string_utf8(
          env, argv[2], l->linkname,' 'napi_get_value_string_latin1(
          env, argv[2], l->linkname,' 1

# 3. File opens without a request: used only where imgfs registers no open handler (the mount is
#    read-only in the kernel), the open answers ENOSYS, which the kernel takes as "opens need no
#    message": it then opens every file itself and keeps its cached pages (FOPEN_KEEP_CACHE), and no
#    OPEN or RELEASE round trip is left. (A directory open cannot do the same: libfuse's high-level
#    API needs its handle; it is answered in C, never in JavaScript.)
patch_source 'static void * fuse_native_init (' '/* imgfs: the view never changes; the kernel may open files without asking. */
static int imgfs_open_without_message (const char *path, struct fuse_file_info *info) {
  (void) path;
  (void) info;
  return -ENOSYS;
}

static void * fuse_native_init (' 1
patch_source '  if (implemented[op_open]) ft->ops.open = fuse_native_open;' '  if (implemented[op_open]) ft->ops.open = fuse_native_open;
  else ft->ops.open = imgfs_open_without_message;' 1
# 4. Directory entries with their attributes (READDIRPLUS): an entry whose stats imgfs gives in full
#    (nlink > 0) is handed to libfuse as FUSE_FILL_DIR_PLUS, so the kernel learns each name and its
#    attributes from the listing instead of one LOOKUP request into JavaScript per name.
patch_source '    stat,
    next_offset,
    (enum fuse_fill_dir_flags) 0' '    stat,
    next_offset,
    (enum fuse_fill_dir_flags) (stat != NULL && stat->st_nlink != 0 ? FUSE_FILL_DIR_PLUS : 0)' 1
# 5. The end of a listing without JavaScript: imgfs gives the last entry of a directory an offset at or
#    above 2^52 (lib/mount/directory-listings.ts); the kernel's next READDIR, which asks from there only
#    to learn that nothing follows, is answered empty in C.
patch_source '  (void) flags;
  l->buf = buf;' '  (void) flags;
  if (offset >= ((off_t) 1 << 52)) return 0; /* imgfs: past the last entry */
  l->buf = buf;' 1

# 6. Listings cached by the kernel: libfuse 3.14's high-level API answers OPENDIR itself and drops the
#    filesystem's cache_readdir (later versions pass it on), so the kernel asked for every listing again on
#    every pass. This build defines libfuse's own fuse_reply_open (version FUSE_3.0), which libfuse calls
#    through its PLT, and which the dynamic linker resolves to the addon first (it is earlier in the
#    addon's own lookup scope than libfuse3.so): it adds keep_cache and cache_readdir to every open it
#    answers, and hands on to libfuse's. The view never changes, so nothing cached can go stale. And
#    bin/fuse-directory-opens.c (included whole; its comment says how) answers OPENDIR with ENOSYS, so
#    that the kernel sends no OPENDIR or RELEASEDIR again and keeps listings by itself, while each
#    READDIR runs libfuse's own open, listing and release in a row. Should a libfuse bind its calls
#    internally, these wrappers are simply never called and directories cost requests, as before.
cp bin/fuse-directory-opens.c "$work/imgfs-directory-opens.c"
patch_source 'static void * fuse_native_init (' '/* imgfs: every open of the read-only view keeps its cache, a directory its listing. */
#include <dlfcn.h>
#include "imgfs-directory-opens.c"
static int (*imgfs_libfuse_reply_open) (fuse_req_t, const struct fuse_file_info *);

__attribute__((constructor)) static void imgfs_find_libfuse_reply_open (void) {
  void *found = dlvsym(RTLD_NEXT, "fuse_reply_open", "FUSE_3.0");
  if (found == NULL) found = dlsym(RTLD_NEXT, "fuse_reply_open");
  imgfs_libfuse_reply_open = (int (*) (fuse_req_t, const struct fuse_file_info *)) found;
}

int fuse_reply_open (fuse_req_t req, const struct fuse_file_info *info) {
  if (imgfs_hold_open(info)) return 0;
  struct fuse_file_info cached = *info;
  cached.keep_cache = 1;
  cached.cache_readdir = 1;
  if (imgfs_libfuse_reply_open == NULL) return fuse_reply_err(req, EIO);
  return imgfs_libfuse_reply_open(req, &cached);
}

static void * fuse_native_init (' 1
# 7. Reads of files stored as they are (an uncompressed layer, a member in one piece) answered in C by
#    pread on the archive, clamped to the member, and symlink targets answered in C:
#    bin/fuse-served-reads.c, included here whole (its own comment says how). imgfs registers such
#    files and links as it lists them (lib/mount/served-files.ts).
cp bin/fuse-served-reads.c "$work/imgfs-served-reads.c"
patch_source 'NAPI_METHOD(fuse_native_mount) {' '#include "imgfs-served-reads.c"

NAPI_METHOD(fuse_native_mount) {' 1
patch_source '  if (implemented[op_read]) ft->ops.read = fuse_native_read;' '  if (implemented[op_read]) ft->ops.read = imgfs_served_read;' 1
patch_source '  NAPI_EXPORT_FUNCTION(fuse_native_runtime_info)' '  NAPI_EXPORT_FUNCTION(fuse_native_runtime_info)
  NAPI_EXPORT_FUNCTION(imgfs_serve_archive)
  NAPI_EXPORT_FUNCTION(imgfs_serve)
  NAPI_EXPORT_FUNCTION(imgfs_serve_clear)
  NAPI_EXPORT_FUNCTION(imgfs_serve_link)
  NAPI_EXPORT_FUNCTION(imgfs_serve_decoded)
  NAPI_EXPORT_FUNCTION(imgfs_serve_span)' 1
patch_source '  if (implemented[op_readlink]) ft->ops.readlink = fuse_native_readlink;' '  if (implemented[op_readlink]) ft->ops.readlink = imgfs_served_readlink;' 1

# Gives the wrapper libfuse's symbol version, which libfuse's calls ask for.
printf 'FUSE_3.0 { global: fuse_reply_open; fuse_reply_err; fuse_reply_buf; fuse_session_new; };\n' > "$work/reply-open.map"

# The flags of the package's binding.gyp (Linux), without node-gyp: Node-API needs no per-version build.
gcc -shared -fPIC -O2 -std=c11 -Wall -D_FILE_OFFSET_BITS=64 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -D_GNU_SOURCE \
  -I"$napi_headers" -I"$uv_headers" -I"$macros" $(pkg-config --cflags fuse3) \
  "$source" -o "$work/fuse.node" -Wl,--version-script="$work/reply-open.map" $(pkg-config --libs fuse3) -ldl
mkdir -p "$package/build/Release"
mv "$work/fuse.node" "$package/build/Release/fuse.node"
# What lib/mount/load-binding.ts reads to know how this build passes names.
echo '{ "useIno": true, "namesAsBytes": true, "cachedOpens": true, "readdirPlus": true, "endOfListingInC": true, "cachedListings": true, "directoryOpensInC": true, "servedReads": true }' > "$package/build/Release/imgfs-build.json"
echo "build-fuse-binding: $package/build/Release/fuse.node (fuse-napi $(node -p "require('./$package/package.json').version") + use_ino, names as bytes, cached opens, readdirplus, end of listing in C, directories opened and listings kept by the kernel, plain reads and symlinks in C)"
