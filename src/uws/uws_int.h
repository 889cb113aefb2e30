/* uws: declarations shared by the files of this folder only (STYLE §3). */
#ifndef OTF_UWS_INT_H
#define OTF_UWS_INT_H

#include <stddef.h>

#include "uws/uws.h"

/* 1 when `s` (length `n`) is valid UTF-8 made only of XML 1.0 characters (no C0 controls other
 * than tab, LF, CR; no surrogates, U+FFFE/U+FFFF). */
int otf_uws_text_is_clean(const char *s, size_t n);
/* A copy of `s` that is valid UTF-8 and XML 1.0 text: every byte sequence that is not becomes
 * U+FFFD. Never NULL (aborts on OOM); the caller frees it with free(). */
char *otf_uws_text_clean(const char *s);

#endif
