/* formats: helpers shared by the writers, and the atomic output file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats_int.h"

void formats_sky_names(const char *frame, struct formats_sky_names *o)
{
    if (strcmp(frame, "GALACTIC") == 0) {
        *o = (struct formats_sky_names){"glon",
                                        "glat",
                                        "pos.galactic.lon;meta.main",
                                        "pos.galactic.lat;meta.main",
                                        "Galactic longitude of the box centre",
                                        "Galactic latitude of the box centre"};
    } else if (strcmp(frame, "ECLIPTIC") == 0) {
        *o = (struct formats_sky_names){"elon",
                                        "elat",
                                        "pos.ecliptic.lon;meta.main",
                                        "pos.ecliptic.lat;meta.main",
                                        "Ecliptic longitude of the box centre",
                                        "Ecliptic latitude of the box centre"};
    } else {
        *o = (struct formats_sky_names){"ra",
                                        "dec",
                                        "pos.eq.ra;meta.main",
                                        "pos.eq.dec;meta.main",
                                        "Right ascension of the box centre",
                                        "Declination of the box centre"};
    }
}

const char *formats_ds9_system(const char *frame)
{
    if (strcmp(frame, "ICRS") == 0)
        return "icrs";
    if (strcmp(frame, "FK5") == 0)
        return "fk5";
    if (strcmp(frame, "FK4") == 0 || strcmp(frame, "FK4-NO-E") == 0)
        return "fk4";
    if (strcmp(frame, "GALACTIC") == 0)
        return "galactic";
    if (strcmp(frame, "ECLIPTIC") == 0)
        return "ecliptic";
    return NULL;
}

int formats_find_col(const struct otf_detect_catalog *cat, const char *name)
{
    for (size_t i = 0; i < cat->n_cols; i++)
        if (strcmp(cat->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *formats_iso(int64_t t_us, char *buf)
{
    if (t_us == 0)
        return NULL;
    otf_time_format_iso(t_us, buf);
    return buf;
}

const char *otf_formats_column_ucd(const char *name)
{
    static const struct {
        const char *name, *ucd;
    } t[] = {
        {"id", "meta.id;meta.main"},
        {"ra", "pos.eq.ra;meta.main"},
        {"dec", "pos.eq.dec;meta.main"},
        {"glon", "pos.galactic.lon;meta.main"},
        {"glat", "pos.galactic.lat;meta.main"},
        {"elon", "pos.ecliptic.lon;meta.main"},
        {"elat", "pos.ecliptic.lat;meta.main"},
        {"x", "pos.cartesian.x;instr.pixel"},
        {"y", "pos.cartesian.y;instr.pixel"},
        {"width", "phys.size;instr.pixel"},
        {"height", "phys.size;instr.pixel"},
        {"objectness", "stat.probability"},
        {"probability", "stat.likelihood"},
        {"flux", "phot.flux.density;em.radio"},
        {"bmaj", "phys.angSize.smajAxis"},
        {"bmin", "phys.angSize.sminAxis"},
        {"pa", "pos.posAng"},
        {"detector", "meta.code"},
        {"class", "meta.code.class"},
        {"partial", "meta.code.qual"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].ucd;
    return NULL;
}

enum otf_status otf_formats_file_open(struct otf_formats_file *of, const char *path,
                                      struct otf_errbuf *eb)
{
    int fd;

    memset(of, 0, sizeof(*of));
    if (strcmp(path, "-") == 0) {
        of->f = stdout;
        return OTF_OK;
    }
    {
        /* A device or a FIFO (-o /dev/null, a pipe) is written in place: a temp file renamed
         * over it would replace the device node itself. */
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            return OTF_FAIL(eb, OTF_E_INVAL, "%s is a folder, not a file", path);
        if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
            of->f = fopen(path, "w");
            if (!of->f)
                return OTF_FAIL(eb, OTF_E_IO, "cannot open %s: %s", path, strerror(errno));
            of->path = otf_xstrdup(path);
            of->is_direct = 1;
            return OTF_OK;
        }
    }
    of->path = otf_xstrdup(path);
    of->tmp = otf_xasprintf("%s.tmp.XXXXXX", path);
    fd = mkstemp(of->tmp);
    if (fd < 0) {
        enum otf_status rc = OTF_FAIL(eb, OTF_E_IO, "cannot create %s: %s", path, strerror(errno));
        free(of->tmp);
        free(of->path);
        memset(of, 0, sizeof(*of));
        return rc;
    }
    /* result files are readable like any other output of the program (mkstemp gives 0600) */
    (void)fchmod(fd, 0644);
    of->f = fdopen(fd, "w");
    if (!of->f) {
        close(fd);
        unlink(of->tmp);
        free(of->tmp);
        free(of->path);
        memset(of, 0, sizeof(*of));
        return OTF_FAIL(eb, OTF_E_NOMEM, "fdopen failed");
    }
    return OTF_OK;
}

enum otf_status otf_formats_file_commit(struct otf_formats_file *of, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;

    if (!of->tmp) { /* stdout, or a device/FIFO written in place */
        if (fflush(of->f) != 0 || ferror(of->f))
            rc = OTF_FAIL(eb, OTF_E_IO, "write to %s failed: %s",
                          of->is_direct ? of->path : "standard output", strerror(errno));
        if (of->is_direct && fclose(of->f) != 0 && rc == OTF_OK)
            rc = OTF_FAIL(eb, OTF_E_IO, "write to %s failed: %s", of->path, strerror(errno));
        free(of->path);
        memset(of, 0, sizeof(*of));
        return rc;
    }
    if (fflush(of->f) != 0 || ferror(of->f) || fsync(fileno(of->f)) != 0) {
        rc = OTF_FAIL(eb, OTF_E_IO, "write to %s failed: %s", of->path, strerror(errno));
        otf_formats_file_abort(of);
        return rc;
    }
    if (fclose(of->f) != 0) {
        of->f = NULL;
        rc = OTF_FAIL(eb, OTF_E_IO, "write to %s failed: %s", of->path, strerror(errno));
        otf_formats_file_abort(of);
        return rc;
    }
    of->f = NULL;
    if (rename(of->tmp, of->path) != 0) {
        rc = OTF_FAIL(eb, OTF_E_IO, "cannot rename to %s: %s", of->path, strerror(errno));
        otf_formats_file_abort(of);
        return rc;
    }
    rc = otf_fs_sync_parent(of->path, eb);
    free(of->tmp);
    free(of->path);
    memset(of, 0, sizeof(*of));
    return rc;
}

/* ext4 (data=ordered, delayed allocation) gives each fsync its own journal commit when the
 * file's blocks are allocated only by that fsync's writeback: started for every file first, the
 * allocations all join the transaction the first fsync commits, and the later fsyncs find their
 * data written and their metadata committed. */
enum otf_status otf_formats_file_commit_all(struct otf_formats_file *of, size_t n,
                                            struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    size_t i;

    for (i = 0; i < n && rc == OTF_OK; i++) {
        if (!of[i].tmp) {
            rc = otf_formats_file_commit(&of[i], eb);
            continue;
        }
        if (fflush(of[i].f) != 0 || ferror(of[i].f))
            rc = OTF_FAIL(eb, OTF_E_IO, "write to %s failed: %s", of[i].path, strerror(errno));
#ifdef SYNC_FILE_RANGE_WRITE
        else
            (void)sync_file_range(fileno(of[i].f), 0, 0, SYNC_FILE_RANGE_WRITE); /* a hint */
#endif
    }
    for (i = 0; i < n && rc == OTF_OK; i++) {
        if (!of[i].tmp)
            continue;
        if (fsync(fileno(of[i].f)) != 0)
            rc = OTF_FAIL(eb, OTF_E_IO, "write to %s failed: %s", of[i].path, strerror(errno));
        else if (fclose(of[i].f) != 0)
            rc = OTF_FAIL(eb, OTF_E_IO, "write to %s failed: %s", of[i].path, strerror(errno));
        of[i].f = NULL; /* closed (fclose closes the stream even when it fails) */
        if (rc != OTF_OK)
            break;
    }
    for (i = 0; i < n && rc == OTF_OK; i++) {
        if (!of[i].tmp)
            continue;
        if (rename(of[i].tmp, of[i].path) != 0) {
            rc = OTF_FAIL(eb, OTF_E_IO, "cannot rename to %s: %s", of[i].path, strerror(errno));
            break;
        }
        free(of[i].tmp);
        of[i].tmp = NULL;
    }
    /* The first folder sync commits every rename; the others find their folder clean. */
    for (i = 0; i < n; i++) {
        if (of[i].tmp) /* not renamed: removed */
            otf_formats_file_abort(&of[i]);
        else if (rc == OTF_OK && of[i].path)
            rc = otf_fs_sync_parent(of[i].path, eb);
    }
    for (i = 0; i < n; i++) {
        free(of[i].path);
        memset(&of[i], 0, sizeof(of[i]));
    }
    return rc;
}

void otf_formats_file_abort(struct otf_formats_file *of)
{
    if (of->is_direct && of->f)
        fclose(of->f);
    if (of->tmp) {
        if (of->f)
            fclose(of->f);
        unlink(of->tmp);
    }
    free(of->tmp);
    free(of->path);
    memset(of, 0, sizeof(*of));
}
