/* formats: a detection catalogue -> the result files of a job (DESIGN §10): a VOTable 1.4
 * catalogue (TABLEDATA or BINARY2, libxml2 xmlTextWriter), a DS9 region file, IVOA provenance
 * as PROV-JSON and PROV-N, and a PNG preview of the image with the detections drawn. File
 * layouts: docs/formats/outputs.md.
 *
 * Every writer takes a stdio stream; otf_formats_file_open/commit give the atomic file that
 * result files need (temp file, fsync, rename). Writers hold no global state and may run on
 * any thread; the PNG preview reads the image, which belongs to the calling thread (fits.h).
 *
 *   struct otf_formats_file of;
 *   if (otf_formats_file_open(&of, "out.vot", eb) == OTF_OK) {
 *       if (otf_formats_write_votable(of.f, cat, &info, OTF_FORMATS_TABLEDATA, eb) == OTF_OK)
 *           otf_formats_file_commit(&of, eb);
 *       else
 *           otf_formats_file_abort(&of);
 *   }
 */
#ifndef OTF_FORMATS_H
#define OTF_FORMATS_H

#include <stdint.h>
#include <stdio.h>

#include "core/core.h"
#include "detect/detect.h"
#include "fits/fits.h"

/* A name/value pair of run metadata (effective parameters). Both strings borrowed. */
struct otf_formats_kv {
    const char *name;
    const char *value;
};

/* What the result files say about the run. Every pointer is borrowed for the call and may be
 * NULL (the item is then left out), except software. */
struct otf_formats_run_info {
    const char *job_id;   /* UWS job id (offline runs make one up) */
    const char *owner;    /* job owner; NULL = anonymous */
    const char *batch_id; /* batch that ran the job */
    const char *model_id;
    const char *model_sha256; /* hex of the weights */
    const char *input_name;   /* file name of the image as submitted (no folder) */
    const char *input_sha256; /* hex */
    const char *hdu;          /* HDU actually read, e.g. "0" */
    const char *backend;      /* engine backend that ran, e.g. "cpu" */
    const char *precision;    /* "fp32", "bf16", ... */
    int winograd_layers;      /* convolutions run as Winograd (0 = all direct) */
    const char *software;     /* e.g. "otf 0.1.0" (required) */
    const char *id_base;      /* URI prefix of PROV identifiers (e.g. the jobs URL + '/');
                                 NULL = "urn:otf:" */
    int64_t start_us, end_us; /* wall clock of the run, us since the epoch; 0 = unknown */
    const struct otf_detect_timings *timings;
    const struct otf_fits_meta *meta;    /* header facts: DATE-OBS for COOSYS epoch, BUNIT */
    const struct otf_formats_kv *params; /* effective parameters */
    size_t n_params;
};

enum otf_formats_encoding {
    OTF_FORMATS_TABLEDATA = 0, /* XML cells */
    OTF_FORMATS_BINARY2 = 1,   /* base64 rows with null flags (VOTable 1.3+) */
};

/* Writes the catalogue as a VOTable 1.4 document: one RESOURCE type="results" with
 * INFO QUERY_STATUS=OK, the image's COOSYS, provenance PARAMs and one TABLE. Errors: OTF_E_IO
 * (write failure), OTF_E_NOMEM. */
enum otf_status otf_formats_write_votable(FILE *f, const struct otf_detect_catalog *cat,
                                          const struct otf_formats_run_info *info,
                                          enum otf_formats_encoding enc, struct otf_errbuf *eb);

/* Writes a DS9 region file (format 4.1): one shape per catalogue row, in the image's sky frame
 * (image pixels without WCS); an ellipse of the bmaj/bmin/pa columns when the model predicts
 * them, else the detection box. Errors: OTF_E_IO. */
enum otf_status otf_formats_write_ds9(FILE *f, const struct otf_detect_catalog *cat,
                                      const struct otf_formats_run_info *info,
                                      struct otf_errbuf *eb);

/* IVOA provenance (ProvDM / W3C PROV): entities input image, model weights and catalogue; the
 * inference activity with its parameters; agents software and owner. PROV-JSON and PROV-N.
 * Errors: OTF_E_IO, OTF_E_NOMEM. */
enum otf_status otf_formats_write_prov_json(FILE *f, const struct otf_detect_catalog *cat,
                                            const struct otf_formats_run_info *info,
                                            struct otf_errbuf *eb);
enum otf_status otf_formats_write_prov_n(FILE *f, const struct otf_detect_catalog *cat,
                                         const struct otf_formats_run_info *info,
                                         struct otf_errbuf *eb);

enum otf_formats_stretch {
    OTF_FORMATS_STRETCH_ZSCALE = 0, /* IRAF zscale limits, linear */
    OTF_FORMATS_STRETCH_ASINH = 1,  /* 0.5 / 99.5 percentiles, asinh */
};

struct otf_formats_png_params {
    int max_side;                     /* longest side of the preview, pixels (default 1024) */
    enum otf_formats_stretch stretch; /* default ZSCALE */
    int draw;                         /* draw the detections (default 1) */
};

void otf_formats_png_params_init(struct otf_formats_png_params *p);

/* Writes an 8-bit RGB PNG of `img` (read in bands of rows and block-averaged down to
 * max_side; the stretch is computed from the reduced image), north (+y) up, with the
 * catalogue's detections (may be NULL) and its region outlined. Errors: fits read errors,
 * OTF_E_IO, OTF_E_NOMEM, OTF_E_LIMIT (max_side out of 16..16384). */
enum otf_status otf_formats_write_png(FILE *f, struct otf_fits_image *img,
                                      const struct otf_detect_catalog *cat,
                                      const struct otf_formats_png_params *p,
                                      struct otf_errbuf *eb);

/* A PNG preview built from the image's rows as they are read elsewhere (the worker's patch
 * reader), so that writing it needs no second read of the image. Rows come in order, each
 * once, full width; otf_formats_write_png is new + every row + write + free. */
struct otf_formats_preview;
/* Errors: OTF_E_LIMIT (max_side out of 16..16384), OTF_E_INVAL, OTF_E_NOMEM. p may be NULL. */
enum otf_status otf_formats_preview_new(int64_t w, int64_t h,
                                        const struct otf_formats_png_params *p,
                                        struct otf_formats_preview **out, struct otf_errbuf *eb);
/* Adds the `n` full-width rows from image row `y` (row-major, `w` floats each). Returns 0, or
 * -1 when they are not the rows expected next: the preview is then incomplete for good. */
int otf_formats_preview_add_rows(struct otf_formats_preview *pv, int64_t y, int64_t n,
                                 const float *rows);
/* 1 once every row has been added in order (NULL: 0). */
int otf_formats_preview_complete(const struct otf_formats_preview *pv);
/* Writes the PNG as otf_formats_write_png does. OTF_E_STATE when the preview is incomplete,
 * OTF_E_IO, OTF_E_NOMEM. */
enum otf_status otf_formats_write_preview(FILE *f, const struct otf_formats_preview *pv,
                                          const struct otf_detect_catalog *cat,
                                          struct otf_errbuf *eb);
void otf_formats_preview_free(struct otf_formats_preview *pv);

/* An output file written atomically: open creates a temp file next to `path` ("-" = stdout,
 * written directly); commit flushes, fsyncs and renames it over `path`; abort removes it. */
struct otf_formats_file {
    FILE *f;
    char *tmp;     /* temp path, NULL for stdout and for direct writes */
    char *path;    /* final path */
    int is_direct; /* `path` is not a regular file (/dev/null, a FIFO): written in place */
};
enum otf_status otf_formats_file_open(struct otf_formats_file *of, const char *path,
                                      struct otf_errbuf *eb);
enum otf_status otf_formats_file_commit(struct otf_formats_file *of, struct otf_errbuf *eb);
void otf_formats_file_abort(struct otf_formats_file *of);

/* Commits n files written together, with the durability of n commits but fewer journal
 * commits: every file's writeback is started before the first is synced, all are synced before
 * any is renamed, and the folders are synced after all the renames. On error every file not
 * yet renamed is removed (renamed ones stay) and `eb` names the first failure. */
enum otf_status otf_formats_file_commit_all(struct otf_formats_file *of, size_t n,
                                            struct otf_errbuf *eb);

/* VOTable, UCD and description of a catalogue column name known to the writers (for docs and
 * the GUI): returns NULL for an unknown name. */
const char *otf_formats_column_ucd(const char *name);

#endif
