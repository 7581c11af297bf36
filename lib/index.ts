/** The public entry of the imgfs package: open an image, then use the fs-shaped API it returns. */
export { openImage } from './fs/open-image.js';
export type {
  ImageFS,
  OpenOptions,
  OpenLimits,
  LayerInfo,
  ImageDirent,
  WalkEntry,
  PathHistory,
  LayerAction,
  ReadStreamOptions,
  IndexProgress,
  Compression,
  LayerChanges,
  ScanOptions,
  ScannedFile,
  ImgfsWarning,
  ImgfsWarningCode,
  ImagePath,
} from './fs/types.js';
export { LIMITS, type LimitName, type LimitSpec } from './limits.js';
/** The orders `readdir` (names by their bytes) and `walk` (whole paths, component by component) give. */
export { compareNameBytes, comparePaths } from './table/entry-name.js';
export { nameFromBytes, nameToBytes, hasEscapedBytes } from './tar/name-bytes.js';
export type { NodeFsAdapter } from './fs/node-fs-adapter.js';
export { ImageStats, type FileType } from './fs/image-stats.js';
export { ImgfsError, isImgfsError, type ImgfsErrorCode } from './errors.js';
export { FsError } from './fs/fs-errors.js';
export type { ImageConfig, ImageFormat } from './image/loaded-image.js';
export { mount, FuseUnavailable, type MountOptions, type MountHandle } from './mount/mount.js';
