/**
 * Files the binding reads in C. A file stored as it is in an archive on disk (an uncompressed layer's
 * regular member, in one piece) is registered with the binding build of bin/build-fuse-binding.sh as
 * soon as imgfs has told the kernel about it (listed with its attributes, or looked up): its path, the
 * archive's descriptor, the offset of its first byte and its size. The kernel's READs of it are then
 * answered by pread() on libfuse's threads (bin/fuse-served-reads.c), clamped to the member, without
 * the hop into this thread and back. A file of a compressed layer is registered by its place in the
 * layer's decoded stream, and each span decoded for reads here is handed over too: its READs are
 * answered in C while the spans they need are held there (bin/fuse-served-reads.c keeps the last 32).
 * Every other file is read here as before (compressed layers before their spans are decoded,
 * sparse members, registry layers, files not registered yet). Symlink targets are handed over the same
 * way, so that READLINK needs no hop either.
 */
import type { FileRegions } from '../fs/file-regions.js';
import type { ImageFS } from '../fs/types.js';
import type { BindingNames } from './binding-names.js';

/** The functions bin/fuse-served-reads.c adds to the binding. */
export interface ServedReadsNative {
  /** Duplicates `fd` for the mount whose thread state is `thread`; the archive's number, or -1. */
  imgfs_serve_archive(thread: Buffer, fd: number): number;
  /** READs of `kernelPath` are served from bytes [offset, offset + size) of `archive`; false if not taken. */
  imgfs_serve(kernelPath: string, archive: number, offset: number, size: number): boolean;
  /** Forgets everything registered by the mount whose thread state is `thread`, and closes its descriptors. */
  imgfs_serve_clear(thread: Buffer): void;
  /** READLINK of `kernelPath` is answered with `kernelTarget`; false if not taken. */
  imgfs_serve_link(thread: Buffer, kernelPath: string, kernelTarget: string): boolean;
  /** READs of `kernelPath` are served from bytes [offset, offset + size) of decoded stream `stream`, while spans handed over hold them. */
  imgfs_serve_decoded?(thread: Buffer, kernelPath: string, stream: number, offset: number, size: number): boolean;
  /** Keeps a copy of `span`, bytes [start, start + length) of decoded stream `stream` (the oldest kept is let go). */
  imgfs_serve_span?(thread: Buffer, stream: number, start: number, span: Buffer): boolean;
}

/** Spans the binding keeps (IMGFS_SPAN_SLOTS in bin/fuse-served-reads.c), the oldest replaced first. */
const SPAN_SLOTS = 32;

export class ServedFiles {
  /** The image's descriptors and the binding's numbers for them (-1: the binding refused it). */
  private readonly archives = new Map<number, number>();
  /** Spans handed to the binding (`layer:start`), in order, with their number in `spansTaken`. */
  private readonly spansHanded = new Map<string, number>();
  private spansTaken = 0;
  /** The thread state registered with; the binding lets go of its own at unmount, before `clear`. */
  private registeredWith: Buffer | undefined;

  constructor(
    private readonly img: ImageFS & FileRegions,
    private readonly native: ServedReadsNative,
    private readonly names: BindingNames,
    /** The mount's thread state (the binding's own buffer), once mounted. */
    private readonly thread: () => Buffer | undefined,
  ) {}

  /**
   * Registers `path` (an imgfs path) if its bytes lie as they are in a file; else leaves it to
   * JavaScript. Never throws: the answer the kernel is waiting for must still go out.
   */
  offer(path: string): void {
    this.attempt((thread) => {
      const extent = this.img.fileExtent(path);
      if (extent === undefined) {
        const decoded = this.native.imgfs_serve_decoded === undefined ? undefined : this.img.decodedExtent(path);
        if (decoded !== undefined) this.native.imgfs_serve_decoded?.(thread, this.names.toKernel(path), decoded.layer, decoded.offset, decoded.size);
        return;
      }
      let archive = this.archives.get(extent.fd);
      if (archive === undefined) {
        archive = this.native.imgfs_serve_archive(thread, extent.fd);
        this.archives.set(extent.fd, archive);
      }
      if (archive >= 0) this.native.imgfs_serve(this.names.toKernel(path), archive, extent.offset, extent.size);
    });
  }

  /** Registers the symlink at `path` (an imgfs path) with its target, so that READLINK is answered in C. Never throws. */
  offerLink(path: string, target: string): void {
    this.attempt((thread) => this.native.imgfs_serve_link(thread, this.names.toKernel(path), this.names.toKernel(target)));
  }

  /**
   * Hands a span of compressed layer `layer`'s decoded stream to the C reads, unless they hold it
   * still. Never throws.
   */
  offerSpan(layer: number, start: number, span: Buffer): void {
    const key = `${layer}:${start}`;
    const handed = this.spansHanded.get(key);
    // The binding keeps the last SPAN_SLOTS spans it took, and takes only spans it does not hold.
    if (handed !== undefined && handed > this.spansTaken - SPAN_SLOTS) return;
    this.attempt((thread) => {
      if (this.native.imgfs_serve_span?.(thread, layer, start, span) !== true) return;
      this.spansHanded.delete(key);
      this.spansHanded.set(key, ++this.spansTaken);
      // Forget what the binding has let go of, so that this map stays as small as its slots.
      for (const [old, taken] of this.spansHanded) {
        if (taken > this.spansTaken - SPAN_SLOTS) break;
        this.spansHanded.delete(old);
      }
    });
  }

  /** Runs `register` once mounted; whatever fails leaves that path to JavaScript, which is always right. */
  private attempt(register: (thread: Buffer) => void): void {
    const thread = (this.registeredWith ??= this.thread());
    if (thread === undefined) return;
    try {
      register(thread);
    } catch {
      // Not registered: served by JavaScript.
    }
  }

  /** After unmount: the binding forgets the paths and closes its copies of the descriptors. */
  clear(): void {
    if (this.registeredWith !== undefined) this.native.imgfs_serve_clear(this.registeredWith);
    this.registeredWith = undefined;
    this.archives.clear();
    this.spansHanded.clear();
  }
}
