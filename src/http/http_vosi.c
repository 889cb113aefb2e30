/* Service resources beside the job list: the model registry (/models), VOSI capabilities and
 * availability, /health and the Prometheus /metrics (DESIGN §3). */
#include <jansson.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "otf_build_config.h"

static enum MHD_Result send_owned(struct http_request *r, unsigned status, const char *type,
                                  struct otf_buf *b)
{
    enum MHD_Result ret = http_send(r, status, type, b->data ? b->data : "", b->len, NULL);
    otf_buf_cleanup(b);
    return ret;
}

/* /models: every card as JSON (the cards are JSON objects); XML wraps each card's facts. */
static enum MHD_Result models(struct http_request *r, const char *id)
{
    const struct otf_http_server *srv = r->srv;
    json_t *arr = json_array();
    char *text;
    enum MHD_Result ret;
    int found = 0;

    for (size_t i = 0; i < srv->p.n_models; i++) {
        const struct otf_http_model *m = &srv->p.models[i];
        json_error_t err;
        json_t *card;
        if (id && strcmp(id, m->id) != 0)
            continue;
        found = 1;
        card = json_loads(m->card_json, 0, &err);
        if (!card) {
            card = json_object();
            json_object_set_new(card, "id", json_string(m->id));
        }
        json_array_append_new(arr, card);
    }
    if (id && !found) {
        json_decref(arr);
        return http_send_error(r, MHD_HTTP_NOT_FOUND, "unknown model '%s'", id);
    }
    if (r->want_json || !MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept") ||
        strstr(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept"), "xml") == NULL) {
        json_t *doc = id ? json_incref(json_array_get(arr, 0)) : json_pack("{s:O}", "models", arr);
        text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_decref(doc);
        json_decref(arr);
        ret = http_send(r, MHD_HTTP_OK, "application/json", text, strlen(text), NULL);
        free(text);
        return ret;
    }
    /* XML view for clients that ask for it: the id, description and precisions. */
    {
        xmlBufferPtr xb = xmlBufferCreate();
        xmlTextWriterPtr w = xmlNewTextWriterMemory(xb, 0);
        size_t k;
        json_t *card;
        xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL);
        xmlTextWriterStartElement(w, BAD_CAST "models");
        xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns", BAD_CAST "urn:cianna-otf:models");
        json_array_foreach(arr, k, card)
        {
            json_t *v;
            size_t pi;
            xmlTextWriterStartElement(w, BAD_CAST "model");
            xmlTextWriterWriteAttribute(w, BAD_CAST "id",
                                        BAD_CAST json_string_value(json_object_get(card, "id")));
            v = json_object_get(card, "description");
            if (json_is_string(v))
                xmlTextWriterWriteElement(w, BAD_CAST "description", BAD_CAST json_string_value(v));
            json_array_foreach(json_object_get(card, "precisions"), pi, v)
            {
                if (json_is_string(v))
                    xmlTextWriterWriteElement(w, BAD_CAST "precision",
                                              BAD_CAST json_string_value(v));
            }
            text = json_dumps(card, JSON_COMPACT | JSON_PRESERVE_ORDER);
            xmlTextWriterWriteElement(w, BAD_CAST "card", BAD_CAST text);
            free(text);
            xmlTextWriterEndElement(w);
        }
        xmlTextWriterEndDocument(w);
        xmlFreeTextWriter(w);
        ret = http_send(r, MHD_HTTP_OK, "text/xml; charset=utf-8", (const char *)xb->content,
                        (size_t)xb->use, NULL);
        xmlBufferFree(xb);
        json_decref(arr);
        return ret;
    }
}

static enum MHD_Result capabilities(struct http_request *r)
{
    char base[512];
    struct otf_buf b;
    static const struct {
        const char *std, *path;
    } caps[] = {{"ivo://ivoa.net/std/VOSI#capabilities", "/capabilities"},
                {"ivo://ivoa.net/std/VOSI#availability", "/availability"},
                {"ivo://ivoa.net/std/UWS#async-1.1", "/jobs"}};

    http_base_url(r, base, sizeof base);
    otf_buf_init(&b, 1 << 16);
    otf_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<vosi:capabilities "
                       "xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\" "
                       "xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" "
                       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n");
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        otf_buf_printf(&b,
                       "  <capability standardID=\"%s\">\n"
                       "    <interface xsi:type=\"vs:ParamHTTP\" role=\"std\">\n"
                       "      <accessURL use=\"full\">%s%s</accessURL>\n"
                       "    </interface>\n"
                       "  </capability>\n",
                       caps[i].std, base, caps[i].path);
    otf_buf_printf(&b, "</vosi:capabilities>\n");
    return send_owned(r, MHD_HTTP_OK, "text/xml; charset=utf-8", &b);
}

static enum MHD_Result availability(struct http_request *r)
{
    struct otf_errbuf eb = {0};
    struct otf_store *st = http_store(r->srv, &eb);
    int64_t seq = 0;
    int ok = st && otf_store_change_seq(st, &seq, &eb) == OTF_OK;
    char up[OTF_TIME_ISO_LEN];
    struct otf_buf b;

    otf_time_format_iso(r->srv->started_us, up);
    if (r->want_json) {
        otf_buf_init(&b, 1 << 12);
        otf_buf_printf(&b, "{\"available\": %s, \"upSince\": \"%s\", \"note\": \"%s\"}\n",
                       ok ? "true" : "false", up, ok ? "accepting jobs" : "job store unavailable");
        return send_owned(r, MHD_HTTP_OK, "application/json", &b);
    }
    otf_buf_init(&b, 1 << 12);
    otf_buf_printf(&b,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<vosi:availability "
                   "xmlns:vosi=\"http://www.ivoa.net/xml/VOSIAvailability/v1.0\">\n"
                   "  <vosi:available>%s</vosi:available>\n"
                   "  <vosi:upSince>%s</vosi:upSince>\n"
                   "  <vosi:note>%s</vosi:note>\n"
                   "</vosi:availability>\n",
                   ok ? "true" : "false", up, ok ? "accepting jobs" : "job store unavailable");
    return send_owned(r, MHD_HTTP_OK, "text/xml; charset=utf-8", &b);
}

static enum MHD_Result health(struct http_request *r)
{
    struct otf_errbuf eb = {0};
    struct otf_store *st = http_store(r->srv, &eb);
    int64_t seq = 0;
    int ok = st && otf_store_change_seq(st, &seq, &eb) == OTF_OK;
    struct otf_buf b;

    otf_buf_init(&b, 1 << 12);
    otf_buf_printf(&b,
                   "{\"status\": \"%s\", \"version\": \"%s\", \"models\": %zu, "
                   "\"uptime_s\": %lld}\n",
                   ok ? "ok" : "store unavailable", OTF_VERSION_STRING, r->srv->p.n_models,
                   (long long)((otf_time_now_us() - r->srv->started_us) / 1000000));
    return send_owned(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", &b);
}

static enum MHD_Result metrics(struct http_request *r)
{
    struct otf_http_server *srv = r->srv;
    struct otf_errbuf eb = {0};
    struct otf_store *st = http_store(srv, &eb);
    struct otf_store_queue *q = NULL;
    size_t nq = 0;
    struct otf_buf b;

    otf_buf_init(&b, 4 << 20);
    otf_buf_printf(&b, "# HELP otf_jobs Jobs in the store by UWS phase.\n"
                       "# TYPE otf_jobs gauge\n");
    for (int p = 0; p < OTF_PHASE__COUNT && st; p++) {
        int64_t n = 0;
        if (otf_store_count_jobs(st, NULL, OTF_PHASE_BIT(p), &n, NULL, NULL) == OTF_OK)
            otf_buf_printf(&b, "otf_jobs{phase=\"%s\"} %lld\n",
                           otf_uws_phase_name((enum otf_phase)p), (long long)n);
    }
    otf_buf_printf(&b, "# HELP otf_queue_depth Queued jobs per batch key (model, precision).\n"
                       "# TYPE otf_queue_depth gauge\n");
    if (st && otf_store_queue_summary(st, &q, &nq, NULL) == OTF_OK) {
        for (size_t i = 0; i < nq; i++)
            otf_buf_printf(&b, "otf_queue_depth{model=\"%s\",precision=\"%s\"} %lld\n", q[i].model,
                           q[i].precision, (long long)q[i].n_jobs);
        otf_store_queue_free(q, nq);
    }
    otf_buf_printf(
        &b,
        "# HELP otf_http_requests_total HTTP requests received.\n"
        "# TYPE otf_http_requests_total counter\n"
        "otf_http_requests_total %lld\n"
        "# HELP otf_http_errors_total HTTP answers with status >= 400.\n"
        "# TYPE otf_http_errors_total counter\n"
        "otf_http_errors_total %lld\n"
        "# HELP otf_jobs_created_total Jobs created.\n"
        "# TYPE otf_jobs_created_total counter\n"
        "otf_jobs_created_total %lld\n"
        "# HELP otf_jobs_destroyed_total Jobs removed at their destruction time.\n"
        "# TYPE otf_jobs_destroyed_total counter\n"
        "otf_jobs_destroyed_total %lld\n"
        "# HELP otf_jobs_overdue_total Jobs stopped for exceeding executionDuration.\n"
        "# TYPE otf_jobs_overdue_total counter\n"
        "otf_jobs_overdue_total %lld\n",
        (long long)atomic_load(&srv->n_requests), (long long)atomic_load(&srv->n_rejected),
        (long long)atomic_load(&srv->n_created), (long long)atomic_load(&srv->n_destroyed),
        (long long)atomic_load(&srv->n_overdue));
    if (srv->p.metrics_extra)
        srv->p.metrics_extra(srv->p.metrics_user, &b);
    return send_owned(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static enum MHD_Result index_page(struct http_request *r)
{
    char base[512];
    struct otf_buf b;
    http_base_url(r, base, sizeof base);
    otf_buf_init(&b, 1 << 12);
    otf_buf_printf(&b,
                   "{\"service\": \"CIANNA On-The-Fly\", \"version\": \"%s\",\n"
                   " \"jobs\": \"%s/jobs\", \"models\": \"%s/models\",\n"
                   " \"capabilities\": \"%s/capabilities\", \"availability\": "
                   "\"%s/availability\",\n"
                   " \"metrics\": \"%s/metrics\", \"health\": \"%s/health\"}\n",
                   OTF_VERSION_STRING, base, base, base, base, base, base);
    return send_owned(r, MHD_HTTP_OK, "application/json", &b);
}

enum MHD_Result http_route_service(struct http_request *r, const char *path)
{
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;

    if (!get) {
        if (strcmp(path, "/") == 0 || strcmp(path, "/models") == 0 ||
            strncmp(path, "/models/", 8) == 0 || strcmp(path, "/capabilities") == 0 ||
            strcmp(path, "/availability") == 0 || strcmp(path, "/health") == 0 ||
            strcmp(path, "/metrics") == 0) {
            r->allow = "GET, HEAD";
            return http_send_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s not allowed on %s",
                                   r->method, path);
        }
        return http_send_error(r, MHD_HTTP_NOT_FOUND, "no such resource: %s", path);
    }
    if (strcmp(path, "/") == 0)
        return index_page(r);
    if (strcmp(path, "/models") == 0 || strcmp(path, "/models/") == 0)
        return models(r, NULL);
    if (strncmp(path, "/models/", 8) == 0)
        return models(r, path + 8);
    if (strcmp(path, "/capabilities") == 0)
        return capabilities(r);
    if (strcmp(path, "/availability") == 0)
        return availability(r);
    if (strcmp(path, "/health") == 0)
        return health(r);
    if (strcmp(path, "/metrics") == 0)
        return metrics(r);
    return http_send_error(r, MHD_HTTP_NOT_FOUND, "no such resource: %s", path);
}
