/* Fuzz target: the CIANNA OTF job-description XML parser (untrusted upload, DESIGN §8). Beyond
 * "no crash", every accepted document must give canonical, checked parameters, and the uws:job
 * document written from them must be well-formed XML again. */
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uws/uws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_output(const struct otf_param *p, size_t n)
{
    struct otf_job *j = otf_uws_job_new();
    struct otf_buf b;
    xmlDocPtr d;

    strcpy(j->id, "fuzz");
    for (size_t i = 0; i < n; i++) {
        /* Names are canonical (lower case), values pass the checker. */
        for (const char *c = p[i].name; *c; c++) {
            if (*c >= 'A' && *c <= 'Z')
                abort();
        }
        if (otf_uws_param_check(p[i].name, p[i].value, NULL) != OTF_OK)
            abort();
        otf_uws_job_set_param(j, p[i].name, p[i].value, p[i].by_reference);
    }
    if (j->n_params != n) /* the parser never returns a name twice */
        abort();
    otf_buf_init(&b, 4u << 20);
    if (otf_uws_job_write_xml(j, "http://127.0.0.1:8080", &b) != OTF_OK)
        abort();
    d = xmlReadMemory(b.data, (int)b.len, "out.xml", NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d)
        abort();
    xmlFreeDoc(d);
    otf_buf_reset(&b);
    if (otf_uws_job_write_json(j, "http://127.0.0.1:8080", &b) != OTF_OK)
        abort();
    otf_buf_cleanup(&b);
    otf_uws_job_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otf_param *p = (struct otf_param *)1; /* must be written only on success */
    size_t n = 12345;
    struct otf_errbuf eb = {0};
    enum otf_status rc;

    otf_uws_global_init();
    rc = otf_uws_parse_description((const char *)data, size, &p, &n, &eb);
    if (rc == OTF_OK) {
        if ((n == 0) != (p == NULL))
            abort();
        check_output(p, n);
        otf_uws_params_free(p, n);
    } else {
        if (p != (struct otf_param *)1 || n != 12345 || eb.msg[0] == '\0')
            abort();
        if (rc != OTF_E_FORMAT && rc != OTF_E_LIMIT && rc != OTF_E_INVAL)
            abort();
    }
    return 0;
}
