/* fits module private declarations: the image handle, the cfitsio lock and the translation of
 * cfitsio status codes and message stack into an errbuf (STYLE §4, at the module edge). */
#ifndef OTF_FITS_INT_H
#define OTF_FITS_INT_H

#include <fitsio.h>

#include "fits/fits.h"

struct otf_fits_image {
    fitsfile *fptr;            /* owned; used by one thread at a time */
    char *path;                /* owned; disk files only (NULL for memory files) */
    void *mem_ptr;             /* memory files only: cfitsio keeps &mem_ptr and &mem_size */
    size_t mem_size;           /* bytes */
    void *mem_copy;            /* owned zero-padded copy, when the caller's size is not a
                                  multiple of 2880 (cfitsio reads whole 2880-byte records) */
    char name[64];             /* file name without its folder, for messages */
    struct otf_fits_info info; /* the chosen HDU */
};

/* Serialises cfitsio calls when the library is not reentrant (checked once at run time); a
 * no-op otherwise. Calls must not nest. */
void otf_fits_lock_cfitsio(void);
void otf_fits_unlock_cfitsio(void);

/* Records a cfitsio failure: "<what>: <status text> (cfitsio status N): <message stack>" with
 * `name` in place of any path, maps `status` to an otf_status, and clears cfitsio's message
 * stack. Returns the otf_status. Call with the cfitsio lock held. */
enum otf_status otf_fits_fail_cfitsio(struct otf_errbuf *eb, int status, const char *path,
                                      const char *func, int line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define OTF_FITS_FAIL_CFITSIO(eb, status, path, ...)                                               \
    otf_fits_fail_cfitsio((eb), (status), (path), __func__, __LINE__, __VA_ARGS__)

/* Reads the chosen HDU's header as concatenated 80-byte cards. *cards is freed with
 * otf_fits_free_cards(). Cfitsio lock held. */
enum otf_status otf_fits_read_cards(struct otf_fits_image *img, char **cards, int *nkeys,
                                    struct otf_errbuf *eb);
void otf_fits_free_cards(char *cards);

#endif
