// The floor of a cold lookup in a docker-archive: Node's start-up plus one 512-byte positional read per
// tar header, nothing else. Walks the outer tar's headers, reads manifest.json, then walks each layer's
// headers from the top layer down and prints PATH from the first layer that has it. No PAX, whiteouts,
// links or index: what any header-reading tool must at least pay, written as plainly as possible.
//
//   node header-floor.js IMAGE.tar PATH      (PATH as in the layer tars: usr/share/zoneinfo/Europe/Berlin)
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const [image, wanted] = process.argv.slice(2);
const fd = openSync(image, 'r');
const block = Buffer.alloc(512);

/** Each member of the tar that starts at `start` and ends at `end`: name, data offset, size. */
function* members(start, end) {
  for (let at = start; at + 512 <= end; ) {
    readSync(fd, block, 0, 512, at);
    if (block[0] === 0) return;
    const field = (from, length) => block.toString('latin1', from, from + length).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const prefix = field(345, 155);
    const name = (prefix === '' ? '' : `${prefix}/`) + field(0, 100);
    yield { name: name.replace(/^\.\//, ''), offset: at + 512, size };
    at += 512 + Math.ceil(size / 512) * 512;
  }
}

const read = ({ offset, size }) => {
  const data = Buffer.alloc(size);
  readSync(fd, data, 0, size, offset);
  return data;
};

const outer = new Map();
for (const member of members(0, Infinity)) outer.set(member.name, member);
const [manifest] = JSON.parse(read(outer.get('manifest.json')).toString('utf8'));
for (const layerName of [...manifest.Layers].reverse()) {
  const layer = outer.get(layerName);
  for (const member of members(layer.offset, layer.offset + layer.size)) {
    if (member.name === wanted) {
      writeSync(1, read(member));
      closeSync(fd);
      process.exit(0);
    }
  }
}
process.exit(1);
