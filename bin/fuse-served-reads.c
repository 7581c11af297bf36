/*
 * imgfs: reads of files stored as they are (uncompressed, in one piece) served in C.
 *
 * Compiled into the fuse-napi binding by bin/build-fuse-binding.sh, which includes this file into the
 * package's fuse-native.c (after its operations, whose read it falls back to).
 *
 * JavaScript registers, per path of the view, where the file's bytes lie in an archive on disk: a
 * descriptor of that archive (registered once, duplicated here so the image closing its own cannot
 * turn a number held here into another file's), the offset of the file's first byte and its size.
 * A READ of a registered path is then answered by pread() on libfuse's own thread, without the hop into
 * Node's event loop and back; every other READ goes to JavaScript as before. Each read is clamped to
 * the registered extent, so no read can return a byte outside the file's member, whatever offset and
 * length the kernel asks for. A read that fails or finds the archive ending inside the extent goes to
 * JavaScript, which reports it (ETRUNCATED, EIO to the reader) as for any other file.
 *
 * Symlink targets are registered the same way (imgfsServeLink) and answered to READLINK in C.
 *
 * Files of compressed layers are registered by their offset in the layer's decoded stream
 * (imgfs_serve_decoded), and JavaScript hands over each span it decodes for reads (imgfs_serve_span),
 * which is copied into one of IMGFS_SPAN_SLOTS slots here, the oldest replaced first: a READ that lies
 * in spans held here is answered by memcpy, any other goes to JavaScript, which decodes (and reads
 * ahead, handing those spans over too). Memory: at most IMGFS_SPAN_SLOTS spans (32 MiB of 1 MiB spans).
 *
 * The view never changes while mounted, so an entry is never replaced; the table only grows, until
 * imgfs_serve_clear() at unmount. One mount per process owns the table (named by the binding's
 * per-mount thread state, which libfuse hands every operation as its context's private_data); reads of
 * any other mount in the same process all go to JavaScript.
 */

#define IMGFS_MAX_ARCHIVES 64
#define IMGFS_LINK (-2)
#define IMGFS_DECODED (-3)
#define IMGFS_SPAN_SLOTS 32
#define IMGFS_SPAN_MAX (1 << 20)

/* A decoded span of stream `stream` (a layer), bytes [start, start + length) of it; stream -1: empty. */
typedef struct imgfs_span {
  int32_t stream;
  int64_t start;
  size_t length;
  char *bytes;
} imgfs_span_t;

static imgfs_span_t imgfs_spans[IMGFS_SPAN_SLOTS];
static size_t imgfs_span_next = 0;
static bool imgfs_spans_ready = false;

typedef struct imgfs_extent {
  struct imgfs_extent *next;
  uint64_t hash;
  int32_t archive; /* IMGFS_LINK: a symlink, whose target is `target`; IMGFS_DECODED: in decoded stream `stream` */
  int32_t stream;
  char *target;
  int64_t offset;
  int64_t size;
  char path[]; /* NUL-terminated bytes, as libfuse hands the path to read() */
} imgfs_extent_t;

static pthread_rwlock_t imgfs_served_lock = PTHREAD_RWLOCK_INITIALIZER;
static imgfs_extent_t **imgfs_served_buckets = NULL;
static size_t imgfs_served_bucket_count = 0;
static size_t imgfs_served_entry_count = 0;
static int imgfs_archive_fds[IMGFS_MAX_ARCHIVES];
static int imgfs_archive_count = 0;
static const void *imgfs_served_owner = NULL;

static uint64_t imgfs_path_hash (const char *path) {
  uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *) path; *p != 0; p++) {
    hash ^= *p;
    hash *= 1099511628211ULL;
  }
  return hash;
}

/* Caller holds the lock (read or write). */
static const imgfs_extent_t * imgfs_served_find (const char *path, uint64_t hash) {
  if (imgfs_served_bucket_count == 0) return NULL;
  for (const imgfs_extent_t *e = imgfs_served_buckets[hash & (imgfs_served_bucket_count - 1)]; e != NULL; e = e->next) {
    if (e->hash == hash && strcmp(e->path, path) == 0) return e;
  }
  return NULL;
}

/* Caller holds the write lock. Doubles the buckets once there are more entries than buckets. */
static int imgfs_served_grow (void) {
  size_t count = imgfs_served_bucket_count == 0 ? 1024 : imgfs_served_bucket_count * 2;
  imgfs_extent_t **buckets = calloc(count, sizeof(*buckets));
  if (buckets == NULL) return -1;
  for (size_t i = 0; i < imgfs_served_bucket_count; i++) {
    imgfs_extent_t *e = imgfs_served_buckets[i];
    while (e != NULL) {
      imgfs_extent_t *next = e->next;
      e->next = buckets[e->hash & (count - 1)];
      buckets[e->hash & (count - 1)] = e;
      e = next;
    }
  }
  free(imgfs_served_buckets);
  imgfs_served_buckets = buckets;
  imgfs_served_bucket_count = count;
  return 0;
}

/* Caller holds the lock: the slot holding byte `at` of `stream`, or NULL. */
static const imgfs_span_t * imgfs_span_find (int32_t stream, int64_t at) {
  for (size_t i = 0; i < IMGFS_SPAN_SLOTS; i++) {
    const imgfs_span_t *s = &imgfs_spans[i];
    if (s->stream == stream && s->start <= at && at - s->start < (int64_t) s->length) return s;
  }
  return NULL;
}

/* Caller holds the lock: copies `want` bytes of `stream` from `at` into `buf` if spans held here have them all. */
static bool imgfs_span_copy (int32_t stream, int64_t at, char *buf, size_t want) {
  size_t got = 0;
  while (got < want) {
    const imgfs_span_t *s = imgfs_span_find(stream, at + (int64_t) got);
    if (s == NULL) return false;
    size_t from = (size_t) (at + (int64_t) got - s->start);
    size_t take = s->length - from < want - got ? s->length - from : want - got;
    memcpy(buf + got, s->bytes + from, take);
    got += take;
  }
  return true;
}

static int imgfs_served_read (const char *path, char *buf, size_t len, off_t offset, struct fuse_file_info *info) {
  int fd = -1;
  int64_t start = 0;
  int64_t size = 0;
  struct fuse_context *context = fuse_get_context();
  if (path != NULL && context != NULL && context->private_data != NULL) {
    uint64_t hash = imgfs_path_hash(path);
    pthread_rwlock_rdlock(&imgfs_served_lock);
    const imgfs_extent_t *e = context->private_data == imgfs_served_owner ? imgfs_served_find(path, hash) : NULL;
    if (e != NULL && e->archive >= 0) {
      fd = imgfs_archive_fds[e->archive];
      start = e->offset;
      size = e->size;
    } else if (e != NULL && e->archive == IMGFS_DECODED && offset >= 0) {
      /* Clamped to the member as below; answered only if every byte is in a span held here. */
      int result = -1;
      if (offset >= e->size) result = 0;
      else {
        size_t want = (uint64_t) (e->size - offset) < len ? (size_t) (e->size - offset) : len;
        if (want > INT_MAX) want = INT_MAX;
        if (imgfs_span_copy(e->stream, e->offset + offset, buf, want)) result = (int) want;
      }
      pthread_rwlock_unlock(&imgfs_served_lock);
      return result >= 0 ? result : fuse_native_read(path, buf, len, offset, info);
    }
    pthread_rwlock_unlock(&imgfs_served_lock);
  }
  if (fd < 0) return fuse_native_read(path, buf, len, offset, info);
  if (offset < 0) return -EINVAL;
  if (offset >= size) return 0;
  /* Never past the member's last byte, whatever the kernel asks for. */
  size_t want = (uint64_t) (size - offset) < len ? (size_t) (size - offset) : len;
  if (want > INT_MAX) want = INT_MAX;
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd, buf + got, want - got, start + offset + (off_t) got);
    if (n < 0 && errno == EINTR) continue;
    /* A read error, or the archive ends inside the member: JavaScript reads it and reports the problem. */
    if (n <= 0) return fuse_native_read(path, buf, len, offset, info);
    got += (size_t) n;
  }
  return (int) got;
}

static int imgfs_served_readlink (const char *path, char *linkname, size_t len) {
  struct fuse_context *context = fuse_get_context();
  bool answered = false;
  if (path != NULL && len > 0 && context != NULL && context->private_data != NULL) {
    uint64_t hash = imgfs_path_hash(path);
    pthread_rwlock_rdlock(&imgfs_served_lock);
    const imgfs_extent_t *e = context->private_data == imgfs_served_owner ? imgfs_served_find(path, hash) : NULL;
    if (e != NULL && e->archive == IMGFS_LINK) {
      /* As readlink(2) with a short buffer: truncated, and always terminated for libfuse. */
      size_t length = strlen(e->target);
      if (length > len - 1) length = len - 1;
      memcpy(linkname, e->target, length);
      linkname[length] = 0;
      answered = true;
    }
    pthread_rwlock_unlock(&imgfs_served_lock);
  }
  return answered ? 0 : fuse_native_readlink(path, linkname, len);
}

/* Caller holds the write lock: adds `e` unless its path is known; false if not added. */
static bool imgfs_served_add (imgfs_extent_t *e) {
  if (imgfs_served_find(e->path, e->hash) != NULL) return false;
  if (imgfs_served_entry_count >= imgfs_served_bucket_count && imgfs_served_grow() != 0) return false;
  size_t bucket = e->hash & (imgfs_served_bucket_count - 1);
  e->next = imgfs_served_buckets[bucket];
  imgfs_served_buckets[bucket] = e;
  imgfs_served_entry_count++;
  return true;
}

/*
 * Zeroed memory of `room` bytes and then room for `value` (a Latin-1 string, one char per byte), which
 * is copied NUL-terminated to `at` bytes from its start (at <= room); NULL if out of memory or `value`
 * holds a NUL.
 */
static char * imgfs_latin1 (napi_env env, napi_value value, size_t room, size_t at) {
  size_t length = 0;
  if (napi_get_value_string_latin1(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *memory = calloc(1, room + length + 1);
  if (memory == NULL) return NULL;
  size_t copied = 0;
  char *text = memory + at;
  if (napi_get_value_string_latin1(env, value, text, length + 1, &copied) != napi_ok || copied != length || strlen(text) != length) {
    free(memory);
    return NULL;
  }
  return memory;
}

/* Caller holds the write lock: the mount whose thread state is `owner` owns the table, unless another does. */
static bool imgfs_claim (const void *owner, size_t owner_length) {
  if (imgfs_served_owner == NULL && owner_length >= sizeof(fuse_thread_t)) imgfs_served_owner = owner;
  return owner == imgfs_served_owner;
}

static napi_value imgfs_boolean (napi_env env, bool value) {
  napi_value result = NULL;
  napi_get_boolean(env, value, &result);
  return result;
}

/*
 * imgfsServeLink(mountThread, path, target): READLINK of `path` is answered with `target` (both
 * Latin-1, one char per byte). Returns false where it cannot; that READLINK then stays in JavaScript.
 */
NAPI_METHOD(imgfs_serve_link) {
  NAPI_ARGV(3)
  void *owner = NULL;
  size_t owner_length = 0;
  NAPI_STATUS_THROWS(napi_get_buffer_info(env, argv[0], &owner, &owner_length))
  bool stored = false;
  imgfs_extent_t *e = (imgfs_extent_t *) imgfs_latin1(env, argv[1], sizeof(imgfs_extent_t), offsetof(imgfs_extent_t, path));
  char *target = imgfs_latin1(env, argv[2], 0, 0);
  if (e != NULL && target != NULL) {
    e->hash = imgfs_path_hash(e->path);
    e->archive = IMGFS_LINK;
    e->target = target;
    pthread_rwlock_wrlock(&imgfs_served_lock);
    stored = imgfs_claim(owner, owner_length) && imgfs_served_add(e);
    pthread_rwlock_unlock(&imgfs_served_lock);
  }
  if (!stored) {
    free(e);
    free(target);
  }
  return imgfs_boolean(env, stored);
}

/*
 * imgfsServeArchive(mountThread, fd): for the mount whose thread state is the buffer `mountThread`,
 * duplicates an archive's descriptor; returns its number for imgfsServe, or -1 (another mount of this
 * process owns the table, too many archives, or dup failed).
 */
NAPI_METHOD(imgfs_serve_archive) {
  NAPI_ARGV(2)
  void *owner = NULL;
  size_t owner_length = 0;
  NAPI_STATUS_THROWS(napi_get_buffer_info(env, argv[0], &owner, &owner_length))
  NAPI_ARGV_INT32(fd, 1)
  int archive = -1;
  pthread_rwlock_wrlock(&imgfs_served_lock);
  if (imgfs_claim(owner, owner_length) && imgfs_archive_count < IMGFS_MAX_ARCHIVES) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy >= 0) {
      archive = imgfs_archive_count++;
      imgfs_archive_fds[archive] = copy;
    }
  }
  pthread_rwlock_unlock(&imgfs_served_lock);
  NAPI_RETURN_INT32(archive)
}

/*
 * Registers `path` (a napi string) as a file at [offset, offset + size) of archive `archive`, or of
 * decoded stream `stream` when `archive` is IMGFS_DECODED (then only for the owner `owner`); false
 * where it cannot (bad arguments, no memory, not the owner).
 */
static bool imgfs_register (napi_env env, napi_value path, int32_t archive, int32_t stream, int64_t offset, int64_t size, const void *owner, size_t owner_length) {
  imgfs_extent_t *e = (imgfs_extent_t *) imgfs_latin1(env, path, sizeof(imgfs_extent_t), offsetof(imgfs_extent_t, path));
  if (e == NULL) return false;
  e->hash = imgfs_path_hash(e->path);
  e->archive = archive;
  e->stream = stream;
  e->offset = offset;
  e->size = size;
  pthread_rwlock_wrlock(&imgfs_served_lock);
  bool known = archive == IMGFS_DECODED ? imgfs_claim(owner, owner_length) && stream >= 0 : archive >= 0 && archive < imgfs_archive_count;
  bool stored = known && offset >= 0 && size >= 0 && offset <= INT64_MAX - size && imgfs_served_add(e);
  pthread_rwlock_unlock(&imgfs_served_lock);
  if (!stored) free(e);
  return stored;
}

/*
 * imgfsServe(path, archive, offset, size): READs of `path` (a Latin-1 string, one char per byte, as
 * the names-as-bytes build passes paths) are served from bytes [offset, offset + size) of the archive.
 * Returns false where it cannot (bad arguments, no memory): that path's reads then stay in JavaScript.
 */
NAPI_METHOD(imgfs_serve) {
  NAPI_ARGV(4)
  /* Only the owner learns archive numbers (imgfsServeArchive), so a number names the owner's archive. */
  int32_t archive = 0;
  int64_t offset = 0;
  int64_t size = 0;
  NAPI_STATUS_THROWS(napi_get_value_int32(env, argv[1], &archive))
  NAPI_STATUS_THROWS(napi_get_value_int64(env, argv[2], &offset))
  NAPI_STATUS_THROWS(napi_get_value_int64(env, argv[3], &size))
  return imgfs_boolean(env, archive >= 0 && imgfs_register(env, argv[0], archive, -1, offset, size, NULL, 0));
}

/*
 * imgfs_serve_decoded(mountThread, kernelPath, stream, offset, size): READs of kernelPath are answered
 * from bytes [offset, offset + size) of decoded stream `stream` while spans handed over hold them.
 */
NAPI_METHOD(imgfs_serve_decoded) {
  NAPI_ARGV(5)
  void *owner = NULL;
  size_t owner_length = 0;
  NAPI_STATUS_THROWS(napi_get_buffer_info(env, argv[0], &owner, &owner_length))
  int32_t stream = 0;
  int64_t offset = 0;
  int64_t size = 0;
  NAPI_STATUS_THROWS(napi_get_value_int32(env, argv[2], &stream))
  NAPI_STATUS_THROWS(napi_get_value_int64(env, argv[3], &offset))
  NAPI_STATUS_THROWS(napi_get_value_int64(env, argv[4], &size))
  return imgfs_boolean(env, imgfs_register(env, argv[1], IMGFS_DECODED, stream, offset, size, owner, owner_length));
}

/* imgfs_serve_span(mountThread, stream, start, bytes): keeps a copy of bytes [start, start + length) of decoded stream `stream`. */
NAPI_METHOD(imgfs_serve_span) {
  NAPI_ARGV(4)
  void *owner = NULL;
  size_t owner_length = 0;
  NAPI_STATUS_THROWS(napi_get_buffer_info(env, argv[0], &owner, &owner_length))
  int32_t stream = 0;
  int64_t start = 0;
  void *bytes = NULL;
  size_t length = 0;
  NAPI_STATUS_THROWS(napi_get_value_int32(env, argv[1], &stream))
  NAPI_STATUS_THROWS(napi_get_value_int64(env, argv[2], &start))
  NAPI_STATUS_THROWS(napi_get_buffer_info(env, argv[3], &bytes, &length))
  bool stored = false;
  if (stream >= 0 && start >= 0 && length > 0 && length <= IMGFS_SPAN_MAX) {
    pthread_rwlock_wrlock(&imgfs_served_lock);
    if (imgfs_claim(owner, owner_length)) {
      if (!imgfs_spans_ready) {
        for (size_t i = 0; i < IMGFS_SPAN_SLOTS; i++) imgfs_spans[i].stream = -1;
        imgfs_spans_ready = true;
      }
      const imgfs_span_t *held = imgfs_span_find(stream, start);
      if (held != NULL && held->start == start && held->length >= length) stored = true;
      else {
        imgfs_span_t *slot = &imgfs_spans[imgfs_span_next];
        if (slot->bytes == NULL) slot->bytes = malloc(IMGFS_SPAN_MAX);
        if (slot->bytes != NULL) {
          memcpy(slot->bytes, bytes, length);
          slot->stream = stream;
          slot->start = start;
          slot->length = length;
          imgfs_span_next = (imgfs_span_next + 1) % IMGFS_SPAN_SLOTS;
          stored = true;
        }
      }
    }
    pthread_rwlock_unlock(&imgfs_served_lock);
  }
  return imgfs_boolean(env, stored);
}

/* imgfsServeClear(mountThread): if that mount owns the table, forgets every path and closes the duplicated descriptors. */
NAPI_METHOD(imgfs_serve_clear) {
  NAPI_ARGV(1)
  void *owner = NULL;
  size_t owner_length = 0;
  NAPI_STATUS_THROWS(napi_get_buffer_info(env, argv[0], &owner, &owner_length))
  pthread_rwlock_wrlock(&imgfs_served_lock);
  if (owner != imgfs_served_owner) {
    pthread_rwlock_unlock(&imgfs_served_lock);
    return NULL;
  }
  for (size_t i = 0; i < imgfs_served_bucket_count; i++) {
    imgfs_extent_t *e = imgfs_served_buckets[i];
    while (e != NULL) {
      imgfs_extent_t *next = e->next;
      free(e->target);
      free(e);
      e = next;
    }
  }
  free(imgfs_served_buckets);
  imgfs_served_buckets = NULL;
  imgfs_served_bucket_count = 0;
  imgfs_served_entry_count = 0;
  for (int i = 0; i < imgfs_archive_count; i++) close(imgfs_archive_fds[i]);
  imgfs_archive_count = 0;
  for (size_t i = 0; i < IMGFS_SPAN_SLOTS; i++) {
    free(imgfs_spans[i].bytes);
    imgfs_spans[i] = (imgfs_span_t) { .stream = -1, .start = 0, .length = 0, .bytes = NULL };
  }
  imgfs_span_next = 0;
  imgfs_served_owner = NULL;
  pthread_rwlock_unlock(&imgfs_served_lock);
  return NULL;
}
