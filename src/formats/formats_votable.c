/* formats: the VOTable 1.4 catalogue (IVOA REC 2019-10-21; namespace v1.3 as 1.4 keeps it).
 * Document order follows the 1.4 XSD: RESOURCE holds INFO QUERY_STATUS first (DALI), then
 * COOSYS and the provenance PARAMs, then the TABLE. BINARY2 rows are a null bitmask followed
 * by big-endian values, base64-encoded (VOTable 1.3 "BINARY2"). */
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats_int.h"

enum fkind {
    F_ID,
    F_LON,
    F_LAT,
    F_X,
    F_Y,
    F_W,
    F_H,
    F_OBJ,
    F_PROB,
    F_VALUE,
    F_DET,
    F_CLASS,
    F_PARTIAL,
};

struct field {
    enum fkind kind;
    int col; /* value column for F_VALUE */
    const char *name;
    const char *datatype; /* long, double, float, int, short, boolean */
    const char *unit;     /* NULL: none */
    const char *ucd;      /* NULL: none */
    const char *desc;
    int ref_sys; /* references the COOSYS */
};

#define MAX_FIELDS (16 + OTF_DETECT_MAX_PARAMS)

static const char *value_desc(const char *name)
{
    if (strcmp(name, "flux") == 0)
        return "Integrated flux density predicted by the network (apparent, not primary-beam "
               "corrected)";
    if (strcmp(name, "bmaj") == 0)
        return "Major axis FWHM predicted by the network";
    if (strcmp(name, "bmin") == 0)
        return "Minor axis FWHM predicted by the network";
    if (strcmp(name, "pa") == 0)
        return "Position angle of the major axis, east of north";
    return "Extra parameter predicted by the network, in physical units";
}

static size_t build_fields(const struct otf_detect_catalog *cat, struct field *f)
{
    struct formats_sky_names sn;
    size_t n = 0;

    formats_sky_names(cat->frame, &sn);
    f[n++] = (struct field){F_ID,
                            0,
                            "id",
                            "long",
                            NULL,
                            "meta.id;meta.main",
                            "Source number, 1-based, in decreasing objectness",
                            0};
    if (cat->has_sky) {
        f[n++] = (struct field){F_LON, 0, sn.lon, "double", "deg", sn.lon_ucd, sn.lon_desc, 1};
        f[n++] = (struct field){F_LAT, 0, sn.lat, "double", "deg", sn.lat_ucd, sn.lat_desc, 1};
    }
    f[n++] = (struct field){F_X,
                            0,
                            "x",
                            "double",
                            "pixel",
                            "pos.cartesian.x;instr.pixel",
                            "Box centre along NAXIS1, 0-based pixel centres (FITS pixel - 1)",
                            0};
    f[n++] = (struct field){F_Y,
                            0,
                            "y",
                            "double",
                            "pixel",
                            "pos.cartesian.y;instr.pixel",
                            "Box centre along NAXIS2, 0-based pixel centres (FITS pixel - 1)",
                            0};
    f[n++] = (struct field){
        F_W, 0, "width", "float", "pixel", "phys.size;instr.pixel", "Box width along NAXIS1", 0};
    f[n++] = (struct field){
        F_H, 0, "height", "float", "pixel", "phys.size;instr.pixel", "Box height along NAXIS2", 0};
    f[n++] = (struct field){
        F_OBJ, 0, "objectness", "float", NULL, "stat.probability", "YOLO objectness score (0 to 1)",
        0};
    f[n++] = (struct field){F_PROB,
                            0,
                            "probability",
                            "float",
                            NULL,
                            "stat.likelihood",
                            "YOLO probability output (0 to 1)",
                            0};
    for (size_t i = 0; i < cat->n_cols; i++) {
        const char *u = cat->cols[i].unit[0] ? cat->cols[i].unit : NULL;
        f[n++] = (struct field){F_VALUE,
                                (int)i,
                                cat->cols[i].name,
                                "float",
                                u,
                                otf_formats_column_ucd(cat->cols[i].name),
                                value_desc(cat->cols[i].name),
                                0};
    }
    f[n++] = (struct field){F_DET,
                            0,
                            "detector",
                            "short",
                            NULL,
                            "meta.code",
                            "YOLO detector (box prior) that found the source, 0-based",
                            0};
    if (cat->has_classes)
        f[n++] = (struct field){F_CLASS,
                                0,
                                "class",
                                "short",
                                NULL,
                                "meta.code.class",
                                "Most probable class index, 0-based",
                                0};
    if (cat->has_partial)
        f[n++] = (struct field){F_PARTIAL,
                                0,
                                "partial",
                                "boolean",
                                NULL,
                                "meta.code.qual",
                                "Centre within border_pix of the image edge",
                                0};
    return n;
}

/* Value of field `fd` for row `r`: as a double (integers exactly representable). */
static double cell(const struct otf_detect_catalog *cat, size_t r, const struct field *fd)
{
    const struct otf_detection *d = &cat->rows[r];
    switch (fd->kind) {
    case F_ID:
        return (double)d->id;
    case F_LON:
        return d->lon;
    case F_LAT:
        return d->lat;
    case F_X:
        return d->x;
    case F_Y:
        return d->y;
    case F_W:
        return d->width;
    case F_H:
        return d->height;
    case F_OBJ:
        return d->objectness;
    case F_PROB:
        return d->probability;
    case F_VALUE:
        return cat->values[r * cat->n_cols + (size_t)fd->col];
    case F_DET:
        return d->detector;
    case F_CLASS:
        return d->class_id;
    case F_PARTIAL:
        return d->is_partial;
    }
    return NAN;
}

/* An integer in decimal ("%lld"): `buf` holds at least 21 bytes. Returns the length. */
static int format_int(char *buf, long long v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int len;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    len = (int)(tmp + sizeof tmp - p);
    memcpy(buf, p, (size_t)len);
    buf[len] = '\0';
    return len;
}

/* One TABLEDATA cell's text into buf (cap >= 32); returns its length. Every number goes through
 * otf_fmt_fixed / otf_fmt_general, byte for byte what "%.Nf" / "%.6g" print. */
static int format_cell(const struct field *fd, double v, char *buf, size_t cap)
{
    buf[0] = '\0';
    switch (fd->kind) {
    case F_ID:
        return format_int(buf, (long long)v);
    case F_DET:
    case F_CLASS:
        return format_int(buf, (int)v);
    case F_PARTIAL:
        buf[0] = v != 0 ? 'T' : 'F';
        buf[1] = '\0';
        return 1;
    default:
        break;
    }
    if (!isfinite(v))
        return 0; /* empty cell = null (VOTable TABLEDATA) */
    switch (fd->kind) {
    case F_LON:
    case F_LAT:
        return otf_fmt_fixed(buf, cap, v, 8);
    case F_X:
    case F_Y:
        /* 1e-5 pixel: 0.0024 arcsec even on 4-arcmin survey pixels */
        return otf_fmt_fixed(buf, cap, v, 5);
    case F_W:
    case F_H:
        return otf_fmt_fixed(buf, cap, v, 3);
    case F_OBJ:
    case F_PROB:
        return otf_fmt_fixed(buf, cap, v, 6);
    default:
        return otf_fmt_general(buf, cap, v, 6);
    }
}

/* ---- BINARY2 ---- */

struct b64 {
    struct otf_buf out; /* base64 text */
    int failed;         /* an append failed (out of memory) */
    unsigned char pend[3];
    int n_pend;
    int col; /* characters on the current line */
};

static void b64_quad(struct b64 *b, const unsigned char *in, int n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[5];
    uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)(n > 1 ? in[1] : 0) << 8 | (n > 2 ? in[2] : 0);

    q[0] = tab[v >> 18 & 63];
    q[1] = tab[v >> 12 & 63];
    q[2] = n > 1 ? tab[v >> 6 & 63] : '=';
    q[3] = n > 2 ? tab[v & 63] : '=';
    q[4] = '\0';
    if (otf_buf_append(&b->out, q, 4) != OTF_OK)
        b->failed = 1;
    b->col += 4;
    if (b->col >= 76) {
        if (otf_buf_append(&b->out, "\n", 1) != OTF_OK)
            b->failed = 1;
        b->col = 0;
    }
}

static void b64_put(struct b64 *b, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        b->pend[b->n_pend++] = s[i];
        if (b->n_pend == 3) {
            b64_quad(b, b->pend, 3);
            b->n_pend = 0;
        }
    }
}

static void b64_end(struct b64 *b)
{
    if (b->n_pend)
        b64_quad(b, b->pend, b->n_pend);
    b->n_pend = 0;
    if (b->col && otf_buf_append(&b->out, "\n", 1) != OTF_OK)
        b->failed = 1;
}

static void put_be(struct b64 *b, uint64_t v, int nbytes)
{
    unsigned char t[8];
    for (int i = 0; i < nbytes; i++)
        t[i] = (unsigned char)(v >> (8 * (nbytes - 1 - i)));
    b64_put(b, t, (size_t)nbytes);
}

static void binary2_row(struct b64 *b, const struct otf_detect_catalog *cat, size_t r,
                        const struct field *f, size_t nf)
{
    unsigned char mask[(MAX_FIELDS + 7) / 8] = {0};
    double v[MAX_FIELDS];

    for (size_t i = 0; i < nf; i++) {
        v[i] = cell(cat, r, &f[i]);
        if (isnan(v[i]))
            mask[i / 8] |= (unsigned char)(0x80u >> (i % 8));
    }
    b64_put(b, mask, (nf + 7) / 8);
    for (size_t i = 0; i < nf; i++) {
        const char *dt = f[i].datatype;
        if (strcmp(dt, "long") == 0) {
            put_be(b, (uint64_t)(int64_t)v[i], 8);
        } else if (strcmp(dt, "double") == 0) {
            uint64_t u;
            memcpy(&u, &v[i], 8);
            put_be(b, u, 8);
        } else if (strcmp(dt, "float") == 0) {
            float x = (float)v[i];
            uint32_t u;
            memcpy(&u, &x, 4);
            put_be(b, u, 4);
        } else if (strcmp(dt, "short") == 0) {
            put_be(b, (uint64_t)(uint16_t)(int16_t)v[i], 2);
        } else { /* boolean */
            unsigned char c = v[i] != 0 ? 'T' : 'F';
            b64_put(b, &c, 1);
        }
    }
}

/* ---- document ---- */

#define W(call)                                                                                    \
    do {                                                                                           \
        if ((call) < 0) {                                                                          \
            rc = OTF_FAIL(eb, OTF_E_IO, "VOTable write failed");                                   \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int param_str(xmlTextWriterPtr w, const char *name, const char *ucd, const char *value,
                     const char *desc)
{
    if (!value)
        return 0;
    if (xmlTextWriterStartElement(w, BAD_CAST "PARAM") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST name) < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "datatype", BAD_CAST "char") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "arraysize", BAD_CAST "*") < 0 ||
        (ucd && xmlTextWriterWriteAttribute(w, BAD_CAST "ucd", BAD_CAST ucd) < 0) ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "value", BAD_CAST value) < 0)
        return -1;
    if (desc && xmlTextWriterWriteElement(w, BAD_CAST "DESCRIPTION", BAD_CAST desc) < 0)
        return -1;
    return xmlTextWriterEndElement(w);
}

static int param_num(xmlTextWriterPtr w, const char *name, const char *datatype, const char *unit,
                     const char *ucd, double value, const char *desc)
{
    char buf[64];
    if (strcmp(datatype, "long") == 0)
        snprintf(buf, sizeof(buf), "%lld", (long long)value);
    else
        snprintf(buf, sizeof(buf), "%.10g", value);
    if (xmlTextWriterStartElement(w, BAD_CAST "PARAM") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST name) < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "datatype", BAD_CAST datatype) < 0 ||
        (unit && xmlTextWriterWriteAttribute(w, BAD_CAST "unit", BAD_CAST unit) < 0) ||
        (ucd && xmlTextWriterWriteAttribute(w, BAD_CAST "ucd", BAD_CAST ucd) < 0) ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "value", BAD_CAST buf) < 0)
        return -1;
    if (desc && xmlTextWriterWriteElement(w, BAD_CAST "DESCRIPTION", BAD_CAST desc) < 0)
        return -1;
    return xmlTextWriterEndElement(w);
}

/* COOSYS system and equinox of a frame; NULL system for frames VOTable cannot name. */
static const char *coosys_system(const char *frame, double eq, char *equinox, size_t cap)
{
    equinox[0] = '\0';
    if (strcmp(frame, "ICRS") == 0)
        return "ICRS";
    if (strcmp(frame, "FK5") == 0) {
        snprintf(equinox, cap, "J%g", isfinite(eq) ? eq : 2000.0);
        return "eq_FK5";
    }
    if (strcmp(frame, "FK4") == 0 || strcmp(frame, "FK4-NO-E") == 0) {
        snprintf(equinox, cap, "B%g", isfinite(eq) ? eq : 1950.0);
        return "eq_FK4";
    }
    if (strcmp(frame, "GALACTIC") == 0)
        return "galactic";
    if (strcmp(frame, "ECLIPTIC") == 0) {
        snprintf(equinox, cap, "J%g", isfinite(eq) ? eq : 2000.0);
        return "ecl_FK5";
    }
    return NULL;
}

/* Julian epoch of DATE-OBS ("J2019.2345"), or "" when absent or unparsable. */
static void julian_epoch(const struct otf_fits_meta *meta, char *out, size_t cap)
{
    int64_t t_us;
    out[0] = '\0';
    if (!meta || !meta->date_obs[0] || otf_time_parse_iso(meta->date_obs, &t_us) != OTF_OK)
        return;
    /* JD = t/86400 + 2440587.5; J = 2000 + (JD - 2451545)/365.25 */
    double jd = (double)t_us / 86400e6 + 2440587.5;
    snprintf(out, cap, "J%.4f", 2000.0 + (jd - 2451545.0) / 365.25);
}

enum otf_status otf_formats_write_votable(FILE *f, const struct otf_detect_catalog *cat,
                                          const struct otf_formats_run_info *info,
                                          enum otf_formats_encoding enc, struct otf_errbuf *eb)
{
    struct field fl[MAX_FIELDS];
    size_t nf = build_fields(cat, fl);
    xmlOutputBufferPtr ob = NULL;
    xmlTextWriterPtr w = NULL;
    struct b64 b = {0};
    char buf[128], equinox[32], epoch[32], iso[OTF_TIME_ISO_LEN];
    const char *sys =
        cat->has_sky ? coosys_system(cat->frame, cat->equinox, equinox, sizeof(equinox)) : NULL;
    enum otf_status rc = OTF_OK;

    ob = xmlOutputBufferCreateFile(f, NULL);
    if (!ob)
        return OTF_FAIL(eb, OTF_E_NOMEM, "cannot create the XML output");
    w = xmlNewTextWriter(ob);
    if (!w) {
        xmlOutputBufferClose(ob);
        return OTF_FAIL(eb, OTF_E_NOMEM, "cannot create the XML writer");
    }
    W(xmlTextWriterSetIndent(w, 1));
    W(xmlTextWriterSetIndentString(w, BAD_CAST " "));
    W(xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL));
    W(xmlTextWriterStartElement(w, BAD_CAST "VOTABLE"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "version", BAD_CAST "1.4"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns",
                                  BAD_CAST "http://www.ivoa.net/xml/VOTable/v1.3"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns:xsi",
                                  BAD_CAST "http://www.w3.org/2001/XMLSchema-instance"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "xsi:schemaLocation",
                                  BAD_CAST "http://www.ivoa.net/xml/VOTable/v1.3 "
                                           "http://www.ivoa.net/xml/VOTable/v1.3"));
    snprintf(buf, sizeof(buf), "Sources detected by %s", info->software);
    W(xmlTextWriterWriteElement(w, BAD_CAST "DESCRIPTION", BAD_CAST buf));

    W(xmlTextWriterStartElement(w, BAD_CAST "RESOURCE"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "results"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "detection"));
    W(xmlTextWriterStartElement(w, BAD_CAST "INFO"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "QUERY_STATUS"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "value", BAD_CAST "OK"));
    W(xmlTextWriterEndElement(w));
    if (sys) {
        W(xmlTextWriterStartElement(w, BAD_CAST "COOSYS"));
        W(xmlTextWriterWriteAttribute(w, BAD_CAST "ID", BAD_CAST "sky_frame"));
        W(xmlTextWriterWriteAttribute(w, BAD_CAST "system", BAD_CAST sys));
        if (equinox[0])
            W(xmlTextWriterWriteAttribute(w, BAD_CAST "equinox", BAD_CAST equinox));
        julian_epoch(info->meta, epoch, sizeof(epoch));
        if (epoch[0])
            W(xmlTextWriterWriteAttribute(w, BAD_CAST "epoch", BAD_CAST epoch));
        W(xmlTextWriterEndElement(w));
    }

    /* provenance: who ran what on which input (DESIGN §10; mirrored in the PROV document) */
    W(param_str(w, "job_id", "meta.id", info->job_id, "Job identifier"));
    W(param_str(w, "owner", NULL, info->owner, "Job owner"));
    W(param_str(w, "batch_id", NULL, info->batch_id, "Batch that ran the job"));
    W(param_str(w, "model_id", "meta.id;meta.software", info->model_id, "Model identifier"));
    W(param_str(w, "model_sha256", NULL, info->model_sha256, "SHA-256 of the model weights"));
    W(param_str(w, "input", "meta.id;meta.file", info->input_name, "Input image file"));
    W(param_str(w, "input_sha256", NULL, info->input_sha256, "SHA-256 of the input file"));
    W(param_str(w, "hdu", NULL, info->hdu, "HDU read (0 = primary)"));
    W(param_str(w, "backend", NULL, info->backend, "Inference engine backend"));
    W(param_str(w, "precision", NULL, info->precision, "Inference precision"));
    W(param_str(w, "software", "meta.version;meta.software", info->software,
                "Software that wrote this catalogue"));
    W(param_str(w, "start_time", "time.start", formats_iso(info->start_us, iso),
                "Start of the run (UTC)"));
    W(param_str(w, "end_time", "time.end", formats_iso(info->end_us, iso), "End of the run (UTC)"));
    snprintf(buf, sizeof(buf), "%lld %lld %lld %lld", (long long)cat->geometry.roi[0],
             (long long)cat->geometry.roi[1], (long long)cat->geometry.roi[2],
             (long long)cat->geometry.roi[3]);
    W(param_str(w, "region", NULL, buf,
                "Pixel region searched: x0 y0 x1 y1, 0-based, end exclusive"));
    W(param_num(w, "n_patches", "long", NULL, "meta.number",
                (double)(cat->geometry.nx * cat->geometry.ny), "Patches run through the network"));
    W(param_num(w, "norm_lo", "double", NULL, NULL, cat->norm_lo,
                "Normalisation lower bound, image units"));
    W(param_num(w, "norm_hi", "double", NULL, NULL, cat->norm_hi,
                "Normalisation upper bound, image units"));
    for (size_t i = 0; i < info->n_params; i++) {
        snprintf(buf, sizeof(buf), "param_%s", info->params[i].name);
        W(param_str(w, buf, NULL, info->params[i].value, "Effective detection parameter"));
    }
    if (info->timings) {
        static const char *const names[] = {"time_bounds",  "time_read",    "time_patch",
                                            "time_forward", "time_collect", "time_finish",
                                            "time_total"};
        const struct otf_detect_timings *t = info->timings;
        const int64_t v[] = {t->bounds_us,  t->read_us,   t->patch_us, t->forward_us,
                             t->collect_us, t->finish_us, t->total_us};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
            W(param_num(w, names[i], "double", "s", "time.duration", (double)v[i] / 1e6,
                        "Wall-clock time of a pipeline stage"));
    }

    W(xmlTextWriterStartElement(w, BAD_CAST "TABLE"));
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "detections"));
    snprintf(buf, sizeof(buf), "%zu", cat->n);
    W(xmlTextWriterWriteAttribute(w, BAD_CAST "nrows", BAD_CAST buf));
    for (size_t i = 0; i < nf; i++) {
        W(xmlTextWriterStartElement(w, BAD_CAST "FIELD"));
        W(xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST fl[i].name));
        W(xmlTextWriterWriteAttribute(w, BAD_CAST "ID", BAD_CAST fl[i].name));
        W(xmlTextWriterWriteAttribute(w, BAD_CAST "datatype", BAD_CAST fl[i].datatype));
        if (fl[i].unit)
            W(xmlTextWriterWriteAttribute(w, BAD_CAST "unit", BAD_CAST fl[i].unit));
        if (fl[i].ucd)
            W(xmlTextWriterWriteAttribute(w, BAD_CAST "ucd", BAD_CAST fl[i].ucd));
        if (fl[i].ref_sys && sys)
            W(xmlTextWriterWriteAttribute(w, BAD_CAST "ref", BAD_CAST "sky_frame"));
        W(xmlTextWriterWriteElement(w, BAD_CAST "DESCRIPTION", BAD_CAST fl[i].desc));
        W(xmlTextWriterEndElement(w));
    }
    W(xmlTextWriterStartElement(w, BAD_CAST "DATA"));
    if (enc == OTF_FORMATS_BINARY2) {
        otf_buf_init(&b.out, SIZE_MAX / 2);
        for (size_t r = 0; r < cat->n; r++)
            binary2_row(&b, cat, r, fl, nf);
        b64_end(&b);
        if (b.failed) {
            rc = OTF_FAIL(eb, OTF_E_NOMEM, "no memory for the BINARY2 stream");
            goto out;
        }
        W(xmlTextWriterStartElement(w, BAD_CAST "BINARY2"));
        W(xmlTextWriterStartElement(w, BAD_CAST "STREAM"));
        W(xmlTextWriterWriteAttribute(w, BAD_CAST "encoding", BAD_CAST "base64"));
        W(xmlTextWriterWriteRaw(w, BAD_CAST "\n"));
        if (b.out.len)
            W(xmlTextWriterWriteRawLen(w, BAD_CAST b.out.data, (int)b.out.len));
        W(xmlTextWriterEndElement(w)); /* STREAM */
        W(xmlTextWriterEndElement(w)); /* BINARY2 */
    } else {
        W(xmlTextWriterStartElement(w, BAD_CAST "TABLEDATA"));
        /* one row per line: indenting every TD would triple the file */
        W(xmlTextWriterSetIndent(w, 0));
        /* Cells are numbers, T or F, never text needing escapes: each row is built here and
         * written raw in one call, which costs a fraction of an element call per cell. */
        for (size_t r = 0; r < cat->n; r++) {
            char row[4096];
            size_t len = 5;
            memcpy(row, "\n<TR>", 5);
            for (size_t i = 0; i < nf; i++) {
                char c[64];
                int n = format_cell(&fl[i], cell(cat, r, &fl[i]), c, sizeof(c));
                if (n < 0 || (size_t)n >= sizeof c || len + (size_t)n + 9 + 5 > sizeof row) {
                    /* ~60 columns of 64 characters would be needed */
                    rc = OTF_FAIL(eb, OTF_E_LIMIT, "VOTable row %zu longer than %zu bytes", r,
                                  sizeof row);
                    goto out;
                }
                memcpy(row + len, "<TD>", 4);
                memcpy(row + len + 4, c, (size_t)n);
                memcpy(row + len + 4 + (size_t)n, "</TD>", 5);
                len += (size_t)n + 9;
            }
            memcpy(row + len, "</TR>", 5);
            len += 5;
            W(xmlTextWriterWriteRawLen(w, BAD_CAST row, (int)len));
        }
        W(xmlTextWriterWriteRaw(w, BAD_CAST "\n"));
        W(xmlTextWriterEndElement(w)); /* TABLEDATA */
        W(xmlTextWriterSetIndent(w, 1));
    }
    W(xmlTextWriterEndElement(w)); /* DATA */
    W(xmlTextWriterEndElement(w)); /* TABLE */
    W(xmlTextWriterEndElement(w)); /* RESOURCE */
    W(xmlTextWriterEndElement(w)); /* VOTABLE */
    W(xmlTextWriterEndDocument(w));
    W(xmlTextWriterFlush(w));
out:
    if (w)
        xmlFreeTextWriter(w);
    otf_buf_cleanup(&b.out);
    if (rc == OTF_OK && ferror(f))
        rc = OTF_FAIL(eb, OTF_E_IO, "VOTable write failed");
    return rc;
}
