import type { ByteSource } from '../source/byte-source.js';
import { ImgfsError, isImgfsError } from '../errors.js';
import { LayerTable, type LayerIndexOptions } from '../table/layer-table.js';
import type { TarEntry } from '../tar/tar-entry.js';
import { annotatedTocFormat, locateToc, readToc, type ReadTocOptions, type TableOfContents } from './read-toc.js';
import { TocContentSource } from './toc-content-source.js';
import { layoutFromTarSplit, layoutToc, type TocLayout } from './toc-layout.js';
import { tocError } from './toc-errors.js';
import type { TocFormat } from './toc-model.js';

/** What opening a layer through its TOC found. */
export interface TocOpening {
  /** The TOC format the footer or the descriptor announces, even when the TOC is unusable. */
  format: TocFormat | undefined;
  /** The layer, read through its TOC; undefined for an ordinary layer or an unusable TOC. */
  layer: TocLayer | undefined;
  /** Why an announced TOC cannot be used (the layer is then read as a plain stream). */
  problem: ImgfsError | undefined;
}

/**
 * A layer opened through its table of contents: one read of the footer, one of the TOC (and one of the
 * tar-split). Its table is built from them, without decoding the layer, and its content is read run by
 * run (toc-content-source.ts).
 */
export class TocLayer {
  readonly format: TocFormat;
  readonly content: TocContentSource;
  /** Where members' data lies in the data space, and each file's runs. */
  readonly layout: TocLayout;

  constructor(
    readonly toc: TableOfContents,
    blob: ByteSource,
    layout: TocLayout,
  ) {
    this.format = toc.location.format;
    this.layout = layout;
    this.content = new TocContentSource(blob, this.format, this.layout);
  }

  /** The layer read through `toc`: its members from the tar-split when there is one, else from the TOC. */
  static async fromToc(toc: TableOfContents, blob: ByteSource): Promise<TocLayer> {
    const layout = toc.tarSplit === undefined ? layoutToc(toc.entries) : await layoutFromTarSplit(toc.entries, toc.tarSplit, blob.name);
    return new TocLayer(toc, blob, layout);
  }

  /** Length of the uncompressed tar stream, when the layer says (the tar-split's length). */
  get tarSize(): number | undefined {
    return this.layout.tarBytes === undefined ? undefined : this.layout.size;
  }

  /**
   * Looks for a TOC (footer first, then the descriptor's annotations) and reads it. Problems of the
   * image are returned, not thrown: the caller reads such a layer plainly and says why.
   */
  static async open(
    blob: ByteSource,
    blobSize: number,
    annotations: Readonly<Record<string, string>>,
    options: ReadTocOptions = {},
  ): Promise<TocOpening> {
    let format = annotatedTocFormat(annotations);
    try {
      const location = await locateToc(blob, blobSize, annotations);
      if (location === undefined) {
        // Annotated as a TOC layer, yet no footer: cut short, or not what the manifest says.
        const problem = format === undefined ? undefined : tocError(`the descriptor announces ${format}, but the blob ends with no ${format} footer`, blobSize);
        return { format, layer: undefined, problem };
      }
      format = location.format;
      return { format, layer: await TocLayer.fromToc(await readToc(blob, location, annotations, options), blob), problem: undefined };
    } catch (error) {
      if (!isImgfsError(error)) throw error;
      return { format, layer: undefined, problem: error };
    }
  }

  /** The members, as a tar pass would yield them (metadata members left out). */
  get members(): readonly TarEntry[] {
    return this.layout.members;
  }

  /** The layer's table, built from the TOC as LayerTable.build builds it from a tar pass. */
  table(options: LayerIndexOptions = {}): Promise<LayerTable> {
    return LayerTable.build(iterate(this.layout.members), options);
  }
}

async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
