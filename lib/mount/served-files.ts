/**
 * Files the binding reads in C. A file stored as it is in an archive on disk (an uncompressed layer's
 * regular member, in one piece) is registered with the binding build of bin/build-fuse-binding.sh as
 * soon as imgfs has told the kernel about it (listed with its attributes, or looked up): its path, the
 * archive's descriptor, the offset of its first byte and its size. The kernel's READs of it are then
 * answered by pread() on libfuse's threads (bin/fuse-served-reads.c), clamped to the member, without
 * the hop into this thread and back; every other file is read here as before (compressed layers,
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
}

export class ServedFiles {
  /** The image's descriptors and the binding's numbers for them (-1: the binding refused it). */
  private readonly archives = new Map<number, number>();
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
      if (extent === undefined) return;
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
  }
}
