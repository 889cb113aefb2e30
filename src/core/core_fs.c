/* File-system helpers. Atomic writes follow the classic recipe: write a temp file in the same
 * folder, fsync it, rename over the target, fsync the folder, so a crash leaves either the old
 * or the new file, never a torn one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

enum otf_status otf_fs_sync_parent(const char *path, struct otf_errbuf *eb)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd;

    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1;
        if (n >= sizeof dir)
            return OTF_FAIL(eb, OTF_E_LIMIT, "path too long: %s", path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return OTF_FAIL(eb, OTF_E_IO, "open %s: %s", dir, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        return OTF_FAIL(eb, OTF_E_IO, "fsync %s: %s", dir, strerror(e));
    }
    close(fd);
    return OTF_OK;
}

enum otf_status otf_fs_write_atomic(const char *path, const void *data, size_t n,
                                    struct otf_errbuf *eb)
{
    char tmp[PATH_MAX];
    const char *p = data;
    int fd;

    struct stat sb;

    /* A device or FIFO (/dev/stdout, a pipe) is written in place: renaming a temp file over it
     * would replace the node itself. */
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return OTF_FAIL(eb, OTF_E_IO, "open %s: %s", path, strerror(errno));
        while (n > 0) {
            ssize_t w = write(fd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                int e = errno;
                close(fd);
                return OTF_FAIL(eb, OTF_E_IO, "write %s: %s", path, strerror(e));
            }
            p += w;
            n -= (size_t)w;
        }
        close(fd);
        return OTF_OK;
    }
    if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp)
        return OTF_FAIL(eb, OTF_E_LIMIT, "path too long: %s", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return OTF_FAIL(eb, OTF_E_IO, "create %s: %s", tmp, strerror(errno));
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0 || fchmod(fd, 0644) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    return otf_fs_sync_parent(path, eb);
fail : {
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return OTF_FAIL(eb, OTF_E_IO, "write %s: %s", path, strerror(e));
}
}

enum otf_status otf_fs_mkdirs(const char *path, int is_private, struct otf_errbuf *eb)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    mode_t mode = is_private ? 0700 : 0755;

    if (n == 0 || n >= sizeof buf)
        return OTF_FAIL(eb, OTF_E_INVAL, "bad folder path");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return OTF_FAIL(eb, OTF_E_IO, "mkdir %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return OTF_OK;
}

static int remove_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;
        struct dirent *e;
        int rc = 0;
        if (fd < 0)
            return -1;
        d = fdopendir(fd);
        if (!d) {
            close(fd);
            return -1;
        }
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (remove_at(dirfd(d), e->d_name) != 0)
                rc = -1;
        }
        closedir(d);
        if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
            rc = -1;
        return rc;
    }
    if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
        return -1;
    return 0;
}

enum otf_status otf_fs_remove_tree(const char *path, struct otf_errbuf *eb)
{
    if (remove_at(AT_FDCWD, path) != 0)
        return OTF_FAIL(eb, OTF_E_IO, "remove %s: %s", path, strerror(errno));
    return OTF_OK;
}

enum otf_status otf_fs_read_file(const char *path, size_t max, char **out, size_t *len,
                                 struct otf_errbuf *eb)
{
    FILE *f = fopen(path, "rb");
    struct otf_buf b;
    char chunk[65536];
    size_t n;
    enum otf_status rc = OTF_OK;

    if (!f)
        return OTF_FAIL(eb, errno == ENOENT ? OTF_E_NOTFOUND : OTF_E_IO, "open %s: %s", path,
                        strerror(errno));
    otf_buf_init(&b, max);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = otf_buf_append(&b, chunk, n);
        if (rc != OTF_OK) {
            OTF_FAIL(eb, rc, "%s: larger than %zu bytes", path, max);
            goto out;
        }
    }
    if (ferror(f)) {
        rc = OTF_FAIL(eb, OTF_E_IO, "read %s failed", path);
        goto out;
    }
    *out = otf_buf_steal(&b, len);
out:
    otf_buf_cleanup(&b);
    fclose(f);
    return rc;
}
