import type { MemberListStore } from './remembered-members.js';
import type { Credentials } from '../registry/credentials.js';
import type { NetworkOptions } from '../registry/http-transport.js';
import type { ByteSource } from '../source/byte-source.js';
import type { OpenLimits } from '../limits.js';

/** The formats of DESIGN.md F1–F4, and an image in a registry (`docker://`). */
export type ImageFormat = 'docker-archive' | 'docker-legacy' | 'oci-dir' | 'oci-archive' | 'layers' | 'registry';

/**
 * A blob that checks itself against its digest as it is first streamed (a registry layer): its index
 * may be cached under that digest once `finishVerification` passes, and its span digests kept with it.
 */
export interface SelfVerifyingBlob {
  /** Reads what the first pass left unread; EDIGEST when the blob is not its digest. */
  finishVerification(): Promise<void>;
  /** Span digests to cache with the index, once verified. */
  exportSpans(): Buffer | undefined;
  /** Span digests from the cache, loaded before the first fetch. */
  deferSpanImport(load: () => Promise<Buffer | undefined>): void;
  /**
   * The blob's first bytes, as a pass that checked the blob against its digest read them (from the
   * cache): reads within them need no request (sniffing the compression).
   */
  knowHead(head: Buffer): void;
  /** The blob by plain ranged requests, unchecked: for a reader that checks what it reads itself (a TOC layer). */
  uncheckedRanges(): ByteSource;
}

/** One layer as the image format describes it; its bytes are not decompressed or indexed yet. */
export interface LayerBlob {
  /** 0 = bottom layer. */
  index: number;
  /** The stored blob, possibly compressed, read in place (a file, or a slice of the outer tar). */
  blob: ByteSource;
  /** Where the blob lives, for messages: a member name (`blobs/sha256/…`, `abc/layer.tar`) or a path. */
  location: string;
  /** Digest of the stored blob (`sha256:…`) when the format states one or it is implied by the name. */
  digest: string | undefined;
  /** Digest of the uncompressed tar (`rootfs.diff_ids[i]` of the config) when known. */
  diffId: string | undefined;
  /** Media type from the descriptor, when the format has one. Compression is still sniffed. */
  mediaType: string | undefined;
  /** Size of the stored blob in bytes. */
  size: number;
  /** `created_by` of the history entry that produced this layer, when the config says. */
  createdBy: string | undefined;
  /** Set when `blob` verifies itself against `digest` (registry layers). */
  selfVerifying?: SelfVerifyingBlob | undefined;
  /** The descriptor's annotations (OCI), where a table of contents announces itself; {} when none. */
  annotations?: Readonly<Record<string, string>> | undefined;
}

/** The parts of the image config (OCI `config` / Docker container config) that imgfs exposes. */
export interface ImageConfig {
  architecture?: string | undefined;
  os?: string | undefined;
  variant?: string | undefined;
  created?: string | undefined;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown> | null;
    Volumes?: Record<string, unknown> | null;
    StopSignal?: string;
  };
  rootfs?: { type: string; diff_ids: string[] };
  history?: Array<{
    created?: string;
    created_by?: string;
    author?: string;
    comment?: string;
    empty_layer?: boolean;
  }>;
}

export interface LoadedImage {
  format: ImageFormat;
  /** The path(s) given to `openImage`, for messages. */
  archive: string;
  /** Bottom first. */
  layers: LayerBlob[];
  config: ImageConfig | undefined;
  /** Closes every file the loader opened (layer blobs included). */
  close(): Promise<void>;
}

export interface LoadOptions {
  /** A `RepoTags` entry (docker) or `org.opencontainers.image.ref.name` (OCI). */
  ref?: string | undefined;
  /** `os/arch[/variant]`; default linux and the host's architecture, else the only one. */
  platform?: string | undefined;
  /** Check the digests of the manifests and the config read on the way to the layers (`verify`). */
  verify?: boolean | undefined;
  /**
   * `openImage`'s limits, as far as loading concerns them: the number of layers, and for an outer
   * archive (a docker save or OCI tar, possibly gzip or zstd) the same ones as for a layer, so that a
   * hostile outer tar cannot cost more than a hostile layer.
   */
  limits?: OuterLimits | undefined;
  /**
   * Where an outer archive's member list is remembered (the index cache), so that a warm open reads
   * no outer tar header (remembered-members.ts); undefined: walk it every time.
   */
  members?: MemberListStore | undefined;
  /** Registry images: credentials (else looked up in the auth files). */
  auth?: Credentials | undefined;
  /** Registry images: timeouts, retries, TLS verification, abort signal. */
  network?: NetworkOptions | undefined;
}

/**
 * The limits of lib/limits.ts, defaults there: `maxEntries` bounds the members of the outer tar too,
 * `maxRatio` a compressed outer archive.
 */
export type OuterLimits = { [name in keyof OpenLimits]?: number | undefined };
