/*
 * imgfs: directories opened without a request.
 *
 * Compiled into the fuse-napi binding by bin/build-fuse-binding.sh (included into its fuse-native.c).
 *
 * The kernel stops sending OPENDIR and RELEASEDIR once OPENDIR answers ENOSYS, and then opens every
 * directory itself with its listing kept (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR): a second walk of the
 * mount then costs no request per directory at all. libfuse 3.14's high-level API cannot take that
 * answer by itself: its READDIR needs the handle its own OPENDIR made. So this file puts itself between
 * libfuse's request dispatch and its high-level operations: it defines fuse_session_new (version
 * FUSE_3.0), which libfuse's fuse_new calls through its PLT and the dynamic linker resolves to the addon
 * first, and hands libfuse's a copy of the operation table in which
 * - OPENDIR answers ENOSYS;
 * - READDIR and READDIRPLUS run libfuse's own OPENDIR, READDIR(PLUS) and RELEASEDIR in a row on the
 *   same request, the answers of the first and last held back (fuse_reply_open, fuse_reply_err and
 *   fuse_reply_buf are libfuse's own, wrapped here for this thread while it does so), and only the
 *   listing (or the first error) sent to the kernel.
 * Everything else passes through untouched. Should a libfuse bind its calls internally, the wrappers
 * are never called and directories are opened with requests, as before.
 */

static int (*imgfs_libfuse_reply_err) (fuse_req_t, int);
static int (*imgfs_libfuse_reply_buf) (fuse_req_t, const char *, size_t);
static struct fuse_session * (*imgfs_libfuse_session_new) (struct fuse_args *, const struct fuse_lowlevel_ops *, size_t, void *);

/* libfuse's own high-level directory operations, from the table it hands fuse_session_new. */
static struct fuse_lowlevel_ops imgfs_libfuse_ops;
static struct fuse_lowlevel_ops imgfs_directory_ops;

/* What this thread holds back while it runs libfuse's three directory operations for one READDIR. */
enum imgfs_holding { IMGFS_PASS = 0, IMGFS_HOLD_OPEN, IMGFS_HOLD_LISTING, IMGFS_HOLD_RELEASE };

typedef struct {
  enum imgfs_holding holding;
  int error;           /* an error answer held back (0: none) */
  bool opened;
  uint64_t handle;     /* libfuse's directory handle, from its OPENDIR answer */
  char *listing;       /* the listing held back (malloc'd copy) */
  size_t listing_size;
  bool listed;
} imgfs_directory_call_t;

static _Thread_local imgfs_directory_call_t imgfs_call;

static void * imgfs_libfuse_symbol (const char *name) {
  void *found = dlvsym(RTLD_NEXT, name, "FUSE_3.0");
  return found != NULL ? found : dlsym(RTLD_NEXT, name);
}

__attribute__((constructor)) static void imgfs_find_libfuse_directory_calls (void) {
  imgfs_libfuse_reply_err = (int (*) (fuse_req_t, int)) imgfs_libfuse_symbol("fuse_reply_err");
  imgfs_libfuse_reply_buf = (int (*) (fuse_req_t, const char *, size_t)) imgfs_libfuse_symbol("fuse_reply_buf");
  imgfs_libfuse_session_new = (struct fuse_session * (*) (struct fuse_args *, const struct fuse_lowlevel_ops *, size_t, void *))
    imgfs_libfuse_symbol("fuse_session_new");
}

int fuse_reply_err (fuse_req_t req, int err) {
  if (imgfs_call.holding != IMGFS_PASS || imgfs_libfuse_reply_err == NULL) {
    if (imgfs_call.error == 0) imgfs_call.error = err;
    return 0;
  }
  return imgfs_libfuse_reply_err(req, err);
}

int fuse_reply_buf (fuse_req_t req, const char *buf, size_t size) {
  if (imgfs_call.holding == IMGFS_HOLD_LISTING) {
    imgfs_call.listing = malloc(size == 0 ? 1 : size);
    if (imgfs_call.listing == NULL) {
      if (imgfs_call.error == 0) imgfs_call.error = ENOMEM;
      return 0;
    }
    if (size > 0) memcpy(imgfs_call.listing, buf, size);
    imgfs_call.listing_size = size;
    imgfs_call.listed = true;
    return 0;
  }
  if (imgfs_call.holding != IMGFS_PASS || imgfs_libfuse_reply_buf == NULL) return 0;
  return imgfs_libfuse_reply_buf(req, buf, size);
}

/* Called by fuse_reply_open (build-fuse-binding.sh): true if the answer was held back here. */
static bool imgfs_hold_open (const struct fuse_file_info *info) {
  if (imgfs_call.holding != IMGFS_HOLD_OPEN) return false;
  imgfs_call.opened = true;
  imgfs_call.handle = info->fh;
  return true;
}

static void imgfs_opendir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *info) {
  (void) ino;
  (void) info;
  imgfs_libfuse_reply_err(req, ENOSYS);
}

static void imgfs_list (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *info, bool plus) {
  if (info->fh != 0) {
    /* Opened with a request after all (a kernel without no_opendir): libfuse's own path. */
    if (plus) imgfs_libfuse_ops.readdirplus(req, ino, size, off, info);
    else imgfs_libfuse_ops.readdir(req, ino, size, off, info);
    return;
  }
  struct fuse_file_info directory;
  memset(&directory, 0, sizeof(directory));
  directory.flags = O_RDONLY | O_DIRECTORY;
  memset(&imgfs_call, 0, sizeof(imgfs_call));
  imgfs_call.holding = IMGFS_HOLD_OPEN;
  imgfs_libfuse_ops.opendir(req, ino, &directory);
  if (imgfs_call.opened && imgfs_call.error == 0) {
    directory.fh = imgfs_call.handle;
    imgfs_call.holding = IMGFS_HOLD_LISTING;
    if (plus) imgfs_libfuse_ops.readdirplus(req, ino, size, off, &directory);
    else imgfs_libfuse_ops.readdir(req, ino, size, off, &directory);
    imgfs_call.holding = IMGFS_HOLD_RELEASE;
    int listing_error = imgfs_call.error;
    imgfs_libfuse_ops.releasedir(req, ino, &directory);
    imgfs_call.error = listing_error;
  }
  imgfs_directory_call_t done = imgfs_call;
  memset(&imgfs_call, 0, sizeof(imgfs_call));
  if (done.error == 0 && done.listed) imgfs_libfuse_reply_buf(req, done.listing, done.listing_size);
  else imgfs_libfuse_reply_err(req, done.error != 0 ? done.error : EIO);
  free(done.listing);
}

static void imgfs_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *info) {
  imgfs_list(req, ino, size, off, info, false);
}

static void imgfs_readdirplus (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *info) {
  imgfs_list(req, ino, size, off, info, true);
}

struct fuse_session * fuse_session_new (struct fuse_args *args, const struct fuse_lowlevel_ops *op, size_t op_size, void *userdata) {
  if (imgfs_libfuse_session_new == NULL) return NULL;
  bool complete = op != NULL && op_size == sizeof(struct fuse_lowlevel_ops) && imgfs_libfuse_reply_err != NULL &&
    imgfs_libfuse_reply_buf != NULL && op->opendir != NULL && op->readdir != NULL && op->readdirplus != NULL &&
    op->releasedir != NULL;
  if (!complete) return imgfs_libfuse_session_new(args, op, op_size, userdata);
  imgfs_libfuse_ops = *op;
  imgfs_directory_ops = *op;
  imgfs_directory_ops.opendir = imgfs_opendir;
  imgfs_directory_ops.readdir = imgfs_readdir;
  imgfs_directory_ops.readdirplus = imgfs_readdirplus;
  return imgfs_libfuse_session_new(args, &imgfs_directory_ops, op_size, userdata);
}
