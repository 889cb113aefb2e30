/* The job-description XML of the original CIANNA OTF client: a uws:job (or bare uws:parameters)
 * whose uws:parameter elements are mapped onto this service's parameters (DESIGN §3).
 * The input is untrusted: no network, no DTD of any kind (so no entity expansion, no XXE),
 * bounded size, depth and parameter count (DESIGN §8). */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "uws/uws.h"
#include "uws/uws_int.h"

#define UWS_NS "http://www.ivoa.net/xml/UWS/v1.0"

/* Parser state seen by the SAX hooks through ctxt->_private. */
struct guard {
    int saw_dtd;
};

/* A DOCTYPE (with or without an internal subset) or an entity declaration stops the parse at
 * once, before libxml2 reads any entity: the hooks run before the subset's content is parsed. */
static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id,
                               const xmlChar *sys_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    (void)name;
    (void)ext_id;
    (void)sys_id;
    ((struct guard *)ctxt->_private)->saw_dtd = 1;
    xmlStopParser(ctxt);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
    xmlParserCtxtPtr ctxt = ctx;
    (void)name;
    (void)type;
    (void)public_id;
    (void)system_id;
    (void)content;
    ((struct guard *)ctxt->_private)->saw_dtd = 1;
    xmlStopParser(ctxt);
}

/* Element in the UWS namespace (or in none, for hand-written files) with local name `name`. */
static int is_uws(const xmlNode *n, const char *name)
{
    if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
        return 0;
    return n->ns == NULL || (n->ns->href && strcmp((const char *)n->ns->href, UWS_NS) == 0);
}

/* Depth of the element tree, walked without recursion; stops counting past `cap`. */
static int tree_depth(const xmlNode *root, int cap)
{
    const xmlNode *n = root;
    int depth = 1, max = 1;

    while (n) {
        if (n->children && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            if (++depth > max)
                max = depth;
            if (max > cap)
                return max;
            continue;
        }
        while (n && n != root && !n->next) {
            n = n->parent;
            depth--;
        }
        if (!n || n == root)
            break;
        n = n->next;
    }
    return max;
}

static char *trim_dup(const char *s)
{
    const char *e;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    return otf_xstrndup(s, (size_t)(e - s));
}

/* Growing list of parsed parameters. */
struct plist {
    struct otf_param *v;
    size_t n;
};

static struct otf_param *plist_find(const struct plist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    }
    return NULL;
}

/* Takes ownership of `name` and `value`. */
static enum otf_status plist_add(struct plist *l, char *name, char *value, int by_ref, int line,
                                 struct otf_errbuf *eb)
{
    if (plist_find(l, name)) {
        enum otf_status rc = OTF_FAIL(
            eb, OTF_E_FORMAT, "description line %d: parameter '%s' is given twice", line, name);
        free(name);
        free(value);
        return rc;
    }
    l->v = otf_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n].name = name;
    l->v[l->n].value = value;
    l->v[l->n].by_reference = by_ref;
    l->n++;
    return OTF_OK;
}

/* ROI_Width/ROI_Height (degrees) of the original client become SIZE, the larger of the two. */
struct roi {
    char *text[2]; /* width, height as given */
    double deg[2];
    int line;
};

static enum otf_status map_parameter(const xmlNode *p, struct plist *l, struct roi *roi,
                                     struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    xmlChar *id = NULL, *byref = NULL, *content = NULL;
    char *value = NULL, *name = NULL;
    const char *target;
    int line = (int)xmlGetLineNo(p), by_ref = 0;

    for (const xmlNode *c = p->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT,
                          "description line %d: a parameter holds text, not elements", line);
            goto out;
        }
    }
    id = xmlGetNoNsProp(p, (const xmlChar *)"id");
    if (!id || !id[0]) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "description line %d: parameter without an id", line);
        goto out;
    }
    byref = xmlGetNoNsProp(p, (const xmlChar *)"byReference");
    if (byref)
        by_ref = strcmp((const char *)byref, "true") == 0 || strcmp((const char *)byref, "1") == 0;
    content = xmlNodeGetContent(p);
    value = trim_dup(content ? (const char *)content : "");

    if (otf_str_ieq((const char *)id, "ROI_Width") || otf_str_ieq((const char *)id, "ROI_Height")) {
        int k = otf_str_ieq((const char *)id, "ROI_Width") ? 0 : 1;
        if (roi->text[k]) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "description line %d: %s is given twice", line,
                          (const char *)id);
            goto out;
        }
        if (otf_str_to_double(value, &roi->deg[k]) != OTF_OK || !(roi->deg[k] > 0.0)) {
            rc = OTF_FAIL(eb, OTF_E_INVAL,
                          "description line %d: %s must be a positive number of degrees, got "
                          "'%.64s'",
                          line, (const char *)id, value);
            goto out;
        }
        roi->text[k] = value;
        roi->line = line;
        value = NULL;
        goto out;
    }

    if (otf_str_ieq((const char *)id, "ModelName"))
        target = "model";
    else if (otf_str_ieq((const char *)id, "Quantization"))
        target = "precision";
    else
        target = (const char *)id; /* RA, DEC and the rest map by their own name */
    /* IMAGE names the file the server stored from the upload; a document must not point it
     * anywhere else (a local path would reach the file system, DESIGN §8). */
    if (otf_str_ieq(target, "image")) {
        rc = OTF_FAIL(eb, OTF_E_INVAL,
                      "description line %d: 'image' cannot be set here; upload the file as the "
                      "'image' part or give IMAGE_URL",
                      line);
        goto out;
    }
    rc = otf_uws_param_check(target, value, eb);
    if (rc != OTF_OK) {
        otf_errbuf_prefix(eb, "description line %d", line);
        goto out;
    }
    name = otf_xstrdup(target);
    for (char *q = name; *q; q++)
        *q = (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
    rc = plist_add(l, name, value, by_ref, line, eb);
    name = NULL;
    value = NULL;
out:
    xmlFree(id);
    xmlFree(byref);
    xmlFree(content);
    free(value);
    free(name);
    return rc;
}

static enum otf_status map_document(const xmlNode *root, struct plist *l, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    const xmlNode *params = NULL;
    struct roi roi = {{NULL, NULL}, {0, 0}, 0};
    size_t n_seen = 0;

    if (is_uws(root, "parameters")) {
        params = root;
    } else if (is_uws(root, "job")) {
        for (const xmlNode *c = root->children; c; c = c->next) {
            if (is_uws(c, "parameters")) {
                if (params) {
                    rc = OTF_FAIL(eb, OTF_E_FORMAT,
                                  "description: more than one uws:parameters element");
                    goto out;
                }
                params = c;
            }
        }
    } else {
        rc = OTF_FAIL(eb, OTF_E_FORMAT,
                      "description: the root element must be uws:job or uws:parameters in "
                      "namespace " UWS_NS ", not '%.64s'",
                      (const char *)root->name);
        goto out;
    }
    if (!params)
        goto out; /* a job with no parameters: nothing to map */

    for (const xmlNode *p = params->children; p; p = p->next) {
        if (p->type != XML_ELEMENT_NODE)
            continue;
        if (!is_uws(p, "parameter")) {
            rc = OTF_FAIL(eb, OTF_E_FORMAT,
                          "description line %d: unexpected element '%.64s' in uws:parameters",
                          (int)xmlGetLineNo(p), (const char *)p->name);
            goto out;
        }
        if (++n_seen > OTF_UWS_DESCRIPTION_MAX_PARAMS) {
            rc = OTF_FAIL(eb, OTF_E_LIMIT, "description: more than %d parameters",
                          OTF_UWS_DESCRIPTION_MAX_PARAMS);
            goto out;
        }
        rc = map_parameter(p, l, &roi, eb);
        if (rc != OTF_OK)
            goto out;
    }

    if (roi.text[0] || roi.text[1]) {
        int k = !roi.text[0] || (roi.text[1] && roi.deg[1] > roi.deg[0]) ? 1 : 0;
        rc = otf_uws_param_check("size", roi.text[k], eb);
        if (rc != OTF_OK) {
            otf_errbuf_prefix(eb, "description line %d (from ROI_Width/ROI_Height)", roi.line);
            goto out;
        }
        /* The size keeps the client's own spelling of the number. */
        rc = plist_add(l, otf_xstrdup("size"), roi.text[k], 0, roi.line, eb);
        roi.text[k] = NULL;
    }
out:
    free(roi.text[0]);
    free(roi.text[1]);
    return rc;
}

enum otf_status otf_uws_parse_description(const char *xml, size_t len, struct otf_param **out,
                                          size_t *n_out, struct otf_errbuf *eb)
{
    enum otf_status rc = OTF_OK;
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    const xmlNode *root;
    struct guard guard = {0};
    struct plist l = {NULL, 0};
    int depth;

    OTF_ASSERT(out && n_out);
    if (!xml || len == 0)
        return OTF_FAIL(eb, OTF_E_FORMAT, "description: empty document");
    if (len > OTF_UWS_DESCRIPTION_MAX)
        return OTF_FAIL(eb, OTF_E_LIMIT, "description: %zu bytes, more than the %d allowed", len,
                        OTF_UWS_DESCRIPTION_MAX);
    /* Cheap first line of defence for ASCII-compatible encodings; the SAX hooks and the subset
     * check below catch the rest (e.g. UTF-16 input). */
    if (memmem(xml, len, "<!DOCTYPE", 9) || memmem(xml, len, "<!ENTITY", 8))
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "description: DOCTYPE and entity declarations are not allowed");

    xmlInitParser();
    ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return OTF_FAIL(eb, OTF_E_NOMEM, "description: no memory for the XML parser");
    ctxt->_private = &guard;
    ctxt->sax->internalSubset = on_internal_subset;
    ctxt->sax->externalSubset = on_internal_subset;
    ctxt->sax->entityDecl = on_entity_decl;
    /* NONET: no network for any external reference. Without NOENT no entity is substituted,
     * without DTDLOAD/DTDATTR/XINCLUDE nothing else is fetched. NOERROR/NOWARNING keep libxml2
     * quiet on stderr; the last error is still recorded in the context. */
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "description.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (guard.saw_dtd || (doc && (doc->intSubset || doc->extSubset))) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT,
                      "description: DOCTYPE and entity declarations are not allowed");
        goto out;
    }
    if (!doc || !ctxt->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        if (e && e->message) {
            char msg[160];
            size_t n = strlen(e->message);
            snprintf(msg, sizeof msg, "%.*s", (int)(n > 0 && e->message[n - 1] == '\n' ? n - 1 : n),
                     e->message);
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "description: not well-formed XML at line %d: %s",
                          e->line, msg);
        } else {
            rc = OTF_FAIL(eb, OTF_E_FORMAT, "description: not well-formed XML");
        }
        goto out;
    }
    if (!ctxt->nsWellFormed) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "description: namespace error (undeclared prefix?)");
        goto out;
    }
    root = xmlDocGetRootElement(doc);
    if (!root) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "description: no root element");
        goto out;
    }
    depth = tree_depth(root, OTF_UWS_DESCRIPTION_MAX_DEPTH);
    if (depth > OTF_UWS_DESCRIPTION_MAX_DEPTH) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "description: elements nested deeper than %d",
                      OTF_UWS_DESCRIPTION_MAX_DEPTH);
        goto out;
    }
    rc = map_document(root, &l, eb);
    if (rc != OTF_OK)
        goto out;
    *out = l.v;
    *n_out = l.n;
    l.v = NULL;
    l.n = 0;
out:
    otf_uws_params_free(l.v, l.n);
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}
