#!/bin/sh
# The peers that use GNU tar the way people script it today: stream each layer out of its archive into
# a second tar. No index, no cache: every call reads the layers again.
#
#   layer-tar.sh find    SOURCE PATH LAYER...   top-down: print PATH from the first layer that has it
#   layer-tar.sh list    SOURCE PATH LAYER...   `tar -tv PATH` of every layer given
#   layer-tar.sh listall SOURCE LAYER...        `tar -t` of every layer given (what indexing costs tar)
#   layer-tar.sh hashall SOURCE LAYER...        each layer decoded once and hashed (`| sha256sum`): the
#                                               floor of a scan that hashes every file
#
# SOURCE says how a LAYER is read:
#   tar:ARCHIVE        LAYER is an uncompressed member of ARCHIVE (docker-archive):  tar -xOf ARCHIVE LAYER
#   tar+gzip:ARCHIVE   LAYER is a gzip member of ARCHIVE (oci-archive):  tar -xOf ARCHIVE LAYER | gzip -dc
#   gzip               LAYER is a gzip blob file:                                 gzip -dc LAYER
#   zstd               LAYER is a zstd blob file:                                 zstd -dcq LAYER
# PATH is relative, as in the layer tars (usr/share/zoneinfo/Europe/Berlin). Layers are given top first.
set -u

mode=$1
source=$2
shift 2

layer() {
  case $source in
    tar:*) tar -xOf "${source#tar:}" "$1" ;;
    tar+gzip:*) tar -xOf "${source#tar+gzip:}" "$1" | gzip -dc ;;
    gzip) gzip -dc "$1" ;;
    zstd) zstd -dcq "$1" ;;
    *) echo "layer-tar.sh: unknown source '$source'" >&2; exit 2 ;;
  esac
}

case $mode in
  find)
    path=$1
    shift
    for l in "$@"; do
      # GNU tar exits 2 with "Not found in archive" when the layer lacks PATH: try the next one down
      if layer "$l" | tar -xO "$path" 2>/dev/null; then exit 0; fi
    done
    echo "layer-tar.sh: $path: not found in any layer" >&2
    exit 1
    ;;
  list)
    path=$1
    shift
    for l in "$@"; do layer "$l" | tar -tv "$path" 2>/dev/null; done
    exit 0
    ;;
  listall)
    for l in "$@"; do layer "$l" | tar -t || exit 1; done
    ;;
  hashall)
    # The whole tar stream is hashed: its files' bytes plus ~1 % of headers, so a little above the floor.
    for l in "$@"; do layer "$l" | sha256sum >/dev/null || exit 1; done
    ;;
  *)
    echo "usage: layer-tar.sh find|list|listall|hashall SOURCE [PATH] LAYER..." >&2
    exit 2
    ;;
esac
