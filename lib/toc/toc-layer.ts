import type { ByteSource } from '../source/byte-source.js';
import { LayerTable, type LayerIndexOptions } from '../table/layer-table.js';
import type { TarEntry } from '../tar/tar-entry.js';
import { readToc, locateToc, type ReadTocOptions, type TableOfContents } from './read-toc.js';
import { TocContentSource } from './toc-content-source.js';
import { layoutToc, type TocLayout } from './toc-layout.js';
import type { TocFormat } from './toc-model.js';

/**
 * A layer opened through its table of contents: one read of the footer and one of the TOC. Its table
 * is built from the TOC alone and its content is read run by run (toc-content-source.ts).
 */
export class TocLayer {
  readonly format: TocFormat;
  readonly content: TocContentSource;
  private readonly layout: TocLayout;

  private constructor(
    readonly toc: TableOfContents,
    blob: ByteSource,
  ) {
    this.format = toc.location.format;
    this.layout = layoutToc(toc.entries);
    this.content = new TocContentSource(blob, this.format, this.layout);
  }

  /**
   * The layer's TOC layer when its footer (or descriptor) announces one, undefined for an ordinary
   * layer. A TOC that is there but unusable is an ImgfsError (the caller reads the layer plainly).
   */
  static async open(
    blob: ByteSource,
    blobSize: number,
    annotations: Readonly<Record<string, string>>,
    options: ReadTocOptions = {},
  ): Promise<TocLayer | undefined> {
    const location = await locateToc(blob, blobSize, annotations);
    if (location === undefined) return undefined;
    return new TocLayer(await readToc(blob, location, annotations, options), blob);
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
