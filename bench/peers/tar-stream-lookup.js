#!/usr/bin/env node
// Peer: the one-file lookup a Node user writes today with tar-stream, on a docker-archive.
//
//   node bench/peers/tar-stream-lookup.js IMAGE.tar /path/in/image  > bytes
//
// 1. Stream the outer tar once: read manifest.json, note where each member's data starts (tar-stream
//    gives each entry's header offset). A stream cannot skip, so this reads the whole archive.
// 2. Walk the layers top-down: stream only that member's byte range through a second tar-stream
//    extractor and stop at the first entry whose name is PATH.
// No index and no cache: whiteouts are not looked at (the first hit from the top is taken as the
// answer, as a quick script would do).

import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import tarStream from 'tar-stream';

const [image, wanted] = process.argv.slice(2);
if (image === undefined || wanted === undefined) {
  process.stderr.write('usage: tar-stream-lookup.js IMAGE.tar PATH\n');
  process.exit(2);
}
const target = normalise(wanted);

/** @param {string} name */
function normalise(name) {
  return posix.normalize(`/${name}`).replace(/\/+$/, '').slice(1);
}

/** @type {Map<string, { start: number, size: number, type: string, linkname: string | null }>} */
const members = new Map();
let manifest;
for await (const entry of createReadStream(image, { highWaterMark: 1 << 20 }).pipe(tarStream.extract())) {
  const { header } = entry;
  members.set(normalise(header.name), { start: entry.offset + 512, size: header.size ?? 0, type: header.type ?? 'file', linkname: header.linkname ?? null });
  if (header.name === 'manifest.json') {
    /** @type {Buffer[]} */
    const chunks = [];
    for await (const chunk of entry) chunks.push(/** @type {Buffer} */ (chunk));
    manifest = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } else entry.resume();
}
if (manifest === undefined) {
  process.stderr.write(`tar-stream-lookup: ${image}: no manifest.json\n`);
  process.exit(2);
}

for (const layerName of [...manifest[0].Layers].reverse()) {
  let name = normalise(layerName);
  let member = members.get(name);
  // docker save may store `<id>/layer.tar` as a symlink to `../<digest>.tar`
  while (member !== undefined && member.type === 'symlink' && member.linkname !== null) {
    name = normalise(posix.join(posix.dirname(name), member.linkname));
    member = members.get(name);
  }
  if (member === undefined || member.size === 0) continue;
  const layer = createReadStream(image, { start: member.start, end: member.start + member.size - 1, highWaterMark: 1 << 20 });
  const extract = layer.pipe(tarStream.extract());
  for await (const entry of extract) {
    if (normalise(entry.header.name) === target && entry.header.type === 'file') {
      for await (const chunk of entry) process.stdout.write(/** @type {Buffer} */ (chunk));
      layer.destroy();
      process.exit(0);
    }
    entry.resume();
  }
}
process.stderr.write(`tar-stream-lookup: ${wanted}: not found in any layer\n`);
process.exit(1);
