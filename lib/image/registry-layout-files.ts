/**
 * A repository in a registry seen as an OCI image layout, so that oci-layout.ts chooses the image
 * (indexes, platforms) exactly as it does for a directory: `oci-layout` and `index.json` are made up
 * (the index lists the manifest the name points to), manifests and indexes come from
 * `/v2/…/manifests/<digest>`, configs from `/v2/…/blobs/<digest>` (both checked against their digests),
 * and a layer is an HttpBlobSource read by range. A blob's size is the one its manifest states: no
 * request is made for a layer until a question reaches it.
 */
import { ImgfsError } from '../errors.js';
import type { RegistryClient } from '../registry/registry-client.js';
import type { ByteSource } from '../source/byte-source.js';
import { HttpBlobSource } from '../source/http-blob-source.js';
import { parseJsonDocument } from './json-document.js';
import { asObject, asString } from './json-document.js';
import type { LayoutFiles } from './layout-files.js';
import { MediaType, REF_NAME_ANNOTATION } from './oci-layout.js';

const LAYOUT = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
const indexTypes: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);

export class RegistryLayoutFiles implements LayoutFiles {
  /** Documents fetched (or made up), by layout path. */
  private readonly documents = new Map<string, Buffer>();
  /** Digests to fetch from the manifests endpoint: the root and what indexes list. */
  private readonly manifestDigests = new Set<string>();
  /** Sizes stated by the manifests read so far, by digest. */
  private readonly blobSizes = new Map<string, number>();
  private readonly opened = new Map<string, HttpBlobSource>();

  private constructor(private readonly client: RegistryClient) {}

  /** Fetches the manifest or index the name points to. */
  static async open(client: RegistryClient): Promise<RegistryLayoutFiles> {
    const files = new RegistryLayoutFiles(client);
    const root = await client.manifest(client.ref.reference);
    const path = pathOf(root.digest);
    files.documents.set(path, root.bytes);
    files.manifestDigests.add(root.digest);
    files.learn(root.bytes, path);
    const mediaType = root.mediaType ?? asString(asObject(files.parse(root.bytes, path))?.['mediaType']);
    const descriptor: Record<string, unknown> = { mediaType, digest: root.digest, size: root.bytes.length };
    if (client.ref.tag !== undefined) descriptor['annotations'] = { [REF_NAME_ANNOTATION]: client.ref.tag };
    files.documents.set('oci-layout', LAYOUT);
    files.documents.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [descriptor] })));
    return files;
  }

  get archive(): string {
    return this.client.display;
  }

  async size(path: string): Promise<number | undefined> {
    const known = this.documents.get(path);
    if (known !== undefined) return known.length;
    const digest = digestOf(path);
    if (digest === undefined) return undefined;
    if (this.manifestDigests.has(digest)) return (await this.document(path, digest)).length;
    return this.blobSizes.get(digest);
  }

  async open(path: string): Promise<ByteSource> {
    const digest = digestOf(path);
    const size = digest === undefined ? undefined : this.blobSizes.get(digest);
    if (digest === undefined || size === undefined) throw new ImgfsError('EIMGFORMAT', `${path} is not listed by the manifest`, { archive: this.archive, member: path });
    let source = this.opened.get(digest);
    if (source === undefined) {
      source = new HttpBlobSource(this.archive, size, digest, (start, end) => this.client.range(digest, start, end, size));
      this.opened.set(digest, source);
    }
    return source;
  }

  async readJson(path: string): Promise<unknown> {
    // Digests were checked as the documents were fetched, whatever `verify` says.
    const digest = digestOf(path);
    const bytes = this.documents.get(path) ?? (digest === undefined ? undefined : await this.document(path, digest));
    if (bytes === undefined) throw new ImgfsError('EIMGFORMAT', `${path} is missing`, { archive: this.archive, member: path });
    return this.parse(bytes, path);
  }

  async close(): Promise<void> {
    const sources = [...this.opened.values()];
    this.opened.clear();
    await Promise.all(sources.map((source) => source.close()));
    this.client.close();
  }

  /** A manifest, index or config, fetched once. */
  private async document(path: string, digest: string): Promise<Buffer> {
    const known = this.documents.get(path);
    if (known !== undefined) return known;
    const bytes = this.manifestDigests.has(digest) ? (await this.client.manifest(digest)).bytes : await this.client.blob(digest);
    this.documents.set(path, bytes);
    this.learn(bytes, path);
    return bytes;
  }

  /** Notes what a manifest or index says about the digests it lists. */
  private learn(bytes: Buffer, path: string): void {
    const document = asObject(this.parse(bytes, path));
    if (document === undefined) return;
    const manifests = document['manifests'];
    const mediaType = asString(document['mediaType']);
    if (Array.isArray(manifests) && (mediaType === undefined || indexTypes.has(mediaType))) {
      for (const item of manifests) {
        const digest = asString(asObject(item)?.['digest']);
        if (digest !== undefined) this.manifestDigests.add(digest);
      }
      return;
    }
    const described = [document['config'], ...(Array.isArray(document['layers']) ? document['layers'] : [])];
    for (const item of described) {
      const descriptor = asObject(item);
      const digest = asString(descriptor?.['digest']);
      const size = descriptor?.['size'];
      if (digest !== undefined && typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) this.blobSizes.set(digest, size);
    }
  }

  private parse(bytes: Buffer, path: string): unknown {
    return parseJsonDocument(bytes, { archive: this.archive, member: path });
  }
}

function pathOf(digest: string): string {
  const colon = digest.indexOf(':');
  return `blobs/${digest.slice(0, colon)}/${digest.slice(colon + 1)}`;
}

/** `blobs/sha256/ab…` → `sha256:ab…`. */
function digestOf(path: string): string | undefined {
  const match = /^blobs\/([a-z0-9+._-]+)\/([a-zA-Z0-9=_-]+)$/.exec(path);
  return match === null ? undefined : `${match[1]}:${match[2]}`;
}
