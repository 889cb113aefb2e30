/* Status codes shared by every module and by libotfclient. The numbers are part of the API:
 * never change or reuse one; add new codes at the end. */
#ifndef OTF_STATUS_H
#define OTF_STATUS_H

#ifndef OTF_API
#if defined(OTF_BUILDING_CLIENT)
#define OTF_API __attribute__((visibility("default")))
#else
#define OTF_API
#endif
#endif

enum otf_status {
    OTF_OK = 0,
    OTF_E_NOMEM = 1,    /* an allocation failed */
    OTF_E_IO = 2,       /* read, write, socket or file-system failure */
    OTF_E_FORMAT = 3,   /* malformed input: FITS, model, XML, HTTP body, config */
    OTF_E_LIMIT = 4,    /* a configured or sane limit was exceeded */
    OTF_E_NOTFOUND = 5, /* unknown job, model, file, key */
    OTF_E_STATE = 6,    /* operation not allowed in the current state (e.g. UWS phase) */
    OTF_E_BACKEND = 7,  /* failure inside an engine or store backend */
    OTF_E_INTERNAL = 8, /* a bug: should not happen */
    OTF_E_INVAL = 9,    /* an invalid argument or parameter value */
    OTF_E_AUTH = 10,    /* missing or wrong credentials */
    OTF_E_BUSY = 11,    /* temporarily unavailable (queue full, store busy): retry later */
    OTF_E_TIMEOUT = 12, /* a wait or transfer ran past its limit */
    OTF_E_NET = 13,     /* network failure (connect, DNS, TLS) */
    OTF_E__COUNT
};

/* Static English text for a status code; never NULL. */
OTF_API const char *otf_status_str(enum otf_status st);

#endif
