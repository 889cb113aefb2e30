/* libotfclient: sending tables and images to desktop tools over SAMP 1.3, Standard Profile
 * (shared/reference/ivoa.md §6). Each send is one short session with the hub over XML-RPC
 * (libxmlrpc-c): register, declareMetadata, notifyAll per message, unregister. Every call has a
 * timeout, so a hung or stale hub gives an error, never a hang. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_int.h"
#include "otf_build_config.h"

#if OTF_WITH_SAMP
#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>
#endif

/* A lockfile is a few short lines; anything bigger is not one. */
#define SAMP_LOCKFILE_MAX       65536
#define SAMP_DEFAULT_TIMEOUT_MS 5000
#define SAMP_LINGER_MS          1000 /* registered after the last notifyAll, see below */

static const char *trim(char *s)
{
    size_t n;
    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int copy_value(char *dst, size_t n, const char *v)
{
    size_t len = strlen(v);
    if (len >= n)
        return -1;
    memcpy(dst, v, len + 1);
    return 0;
}

enum otf_status otf_client_samp_parse_lockfile(const char *text, size_t len,
                                               struct otf_client_samp_hub *out,
                                               struct otf_client_error *err)
{
    struct otf_client_samp_hub h;
    enum otf_status rc = OTF_OK;
    char *buf = NULL, *line, *save = NULL;
    int line_no = 0;

    memset(&h, 0, sizeof h);
    if (len > SAMP_LOCKFILE_MAX)
        return client_fail(err, OTF_E_FORMAT, 0, "SAMP lockfile too large (%zu bytes)", len);
    if (memchr(text, '\0', len))
        return client_fail(err, OTF_E_FORMAT, 0, "SAMP lockfile holds a NUL byte");
    buf = otf_xstrndup(text, len);
    /* SAMP 1.3 §4.3: lines are "key=value", comments start with '#', blank lines are
     * allowed; unknown keys are ignored (hubs add their own). */
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq, *key;
        const char *val;
        line_no++;
        key = (char *)trim(line);
        if (key[0] == '\0' || key[0] == '#')
            continue;
        eq = strchr(key, '=');
        if (!eq || eq == key) {
            rc = client_fail(err, OTF_E_FORMAT, 0, "SAMP lockfile line %d is not key=value",
                             line_no);
            goto out;
        }
        *eq = '\0';
        key = (char *)trim(key);
        val = trim(eq + 1);
        if ((strcmp(key, "samp.secret") == 0 && copy_value(h.secret, sizeof h.secret, val)) ||
            (strcmp(key, "samp.hub.xmlrpc.url") == 0 &&
             copy_value(h.xmlrpc_url, sizeof h.xmlrpc_url, val)) ||
            (strcmp(key, "samp.profile.version") == 0 &&
             copy_value(h.profile_version, sizeof h.profile_version, val))) {
            rc = client_fail(err, OTF_E_FORMAT, 0, "SAMP lockfile: %s is too long", key);
            goto out;
        }
    }
    if (!h.secret[0] || !h.xmlrpc_url[0]) {
        rc = client_fail(err, OTF_E_FORMAT, 0, "SAMP lockfile has no %s",
                         !h.secret[0] ? "samp.secret" : "samp.hub.xmlrpc.url");
        goto out;
    }
    if (strncmp(h.xmlrpc_url, "http://", 7) != 0 && strncmp(h.xmlrpc_url, "https://", 8) != 0) {
        rc = client_fail(err, OTF_E_FORMAT, 0,
                         "SAMP lockfile: samp.hub.xmlrpc.url '%.200s' is "
                         "not an http URL",
                         h.xmlrpc_url);
        goto out;
    }
    *out = h;
out:
    free(buf);
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum otf_status otf_client_samp_lockfile_path(const char *samp_hub, const char *home, char *path,
                                              size_t n, struct otf_client_error *err)
{
    static const char prefix[] = "std-lockurl:";
    const char *u, *p;
    size_t k = 0;

    if (!samp_hub || !samp_hub[0]) {
        if (!home || !home[0])
            return client_fail(err, OTF_E_NOTFOUND, 0,
                               "no SAMP hub: neither SAMP_HUB nor HOME is set");
        if ((size_t)snprintf(path, n, "%s/.samp", home) >= n)
            return client_fail(err, OTF_E_LIMIT, 0, "HOME is too long");
        return OTF_OK;
    }
    if (strncmp(samp_hub, prefix, sizeof prefix - 1) != 0)
        return client_fail(err, OTF_E_INVAL, 0,
                           "SAMP_HUB='%.200s' is not a Standard Profile hub (std-lockurl:...)",
                           samp_hub);
    u = samp_hub + sizeof prefix - 1;
    /* RFC 8089: file:///path, file://localhost/path or file:/path. */
    if (strncmp(u, "file://localhost/", 17) == 0)
        p = u + 16;
    else if (strncmp(u, "file:///", 8) == 0)
        p = u + 7;
    else if (strncmp(u, "file:/", 6) == 0 && u[6] != '/')
        p = u + 5;
    else
        return client_fail(err, OTF_E_INVAL, 0,
                           "SAMP_HUB: only local lockfile URLs (std-lockurl:file:///...) are "
                           "supported, not '%.200s'",
                           u);
    for (; *p; p++) {
        char c = *p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return client_fail(err, OTF_E_INVAL, 0, "SAMP_HUB: bad %%-escape in '%.200s'", u);
            c = (char)(hi * 16 + lo);
            p += 2;
        } else if (c == '?' || c == '#') {
            break;
        }
        if (k + 1 >= n)
            return client_fail(err, OTF_E_LIMIT, 0, "SAMP_HUB: lockfile path too long");
        path[k++] = c;
    }
    path[k] = '\0';
    return OTF_OK;
}

enum otf_status otf_client_samp_find_hub(struct otf_client_samp_hub *out,
                                         struct otf_client_error *err)
{
    char path[1024];
    FILE *f = NULL;
    char *text = NULL;
    size_t len = 0;
    enum otf_status rc;

    rc = otf_client_samp_lockfile_path(getenv("SAMP_HUB"), getenv("HOME"), path, sizeof path, err);
    if (rc != OTF_OK)
        return rc;
    f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return client_fail(err, OTF_E_NOTFOUND, 0, "no SAMP hub running (no lockfile %s)",
                               path);
        return client_fail(err, OTF_E_IO, 0, "SAMP lockfile %s: %s", path, strerror(errno));
    }
    text = otf_xmalloc(SAMP_LOCKFILE_MAX + 1);
    len = fread(text, 1, SAMP_LOCKFILE_MAX + 1, f);
    if (ferror(f)) {
        rc = client_fail(err, OTF_E_IO, 0, "SAMP lockfile %s: read error", path);
        goto out;
    }
    rc = otf_client_samp_parse_lockfile(text, len, out, err);
    if (rc == OTF_OK)
        snprintf(out->lockfile, sizeof out->lockfile, "%s", path);
    else if (err)
        snprintf(err->msg, sizeof err->msg, "bad SAMP lockfile %.400s: %.80s", path,
                 strchr(err->msg, ':') ? strchr(err->msg, ':') + 2 : err->msg);
out:
    fclose(f);
    free(text);
    return rc;
}

#if OTF_WITH_SAMP

int otf_client_samp_available(void)
{
    return 1;
}

/* Called by otf_client_global_init: libxmlrpc-c's client globals (it initialises libcurl's
 * too), which must be set up before threads start. */
enum otf_status client_samp_global_init(void)
{
    xmlrpc_env env;
    enum otf_status rc = OTF_OK;
    xmlrpc_env_init(&env);
    xmlrpc_client_setup_global_const(&env);
    if (env.fault_occurred)
        rc = OTF_E_INTERNAL;
    xmlrpc_env_clean(&env);
    return rc;
}

void client_samp_global_cleanup(void)
{
    xmlrpc_client_teardown_global_const();
}

/* Maps a failed XML-RPC call to a status and a message for `what` (the SAMP method). */
static enum otf_status call_failed(const xmlrpc_env *env, const struct otf_client_samp_hub *h,
                                   const char *what, struct otf_client_error *err)
{
    const char *fs = env->fault_string ? env->fault_string : "";
    if (env->fault_code == XMLRPC_NETWORK_ERROR || env->fault_code == XMLRPC_TIMEOUT_ERROR) {
        if (env->fault_code == XMLRPC_TIMEOUT_ERROR || strstr(fs, "imeout") ||
            strstr(fs, "timed out"))
            return client_fail(err, OTF_E_TIMEOUT, 0,
                               "the SAMP hub at %.200s did not answer %s "
                               "in time",
                               h->xmlrpc_url, what);
        return client_fail(err, OTF_E_NET, 0,
                           "no SAMP hub answers at %.200s (stale lockfile %.200s?): %.100s",
                           h->xmlrpc_url, h->lockfile[0] ? h->lockfile : "", fs);
    }
    if (strcmp(what, "samp.hub.register") == 0)
        return client_fail(err, OTF_E_AUTH, 0, "the SAMP hub refused the registration: %.300s", fs);
    return client_fail(err, OTF_E_STATE, 0, "the SAMP hub refused %s: %.300s", what, fs);
}

/* samp.hub.notifyAll(key, {samp.mtype, samp.params}) with three string params; *n receives the
 * number of recipients. */
static enum otf_status notify(xmlrpc_client *cli, const struct otf_client_samp_hub *h,
                              const char *key, const char *mtype, const char *id_key,
                              const char *url, const char *id, const char *name, int *n,
                              struct otf_client_error *err)
{
    xmlrpc_env env;
    xmlrpc_value *params = NULL, *msg = NULL, *args = NULL, *res = NULL, *v;
    xmlrpc_server_info *si = NULL;
    enum otf_status rc = OTF_OK;

    xmlrpc_env_init(&env);
    params = xmlrpc_struct_new(&env);
    v = xmlrpc_string_new(&env, url);
    xmlrpc_struct_set_value(&env, params, "url", v);
    xmlrpc_DECREF(v);
    if (id) {
        v = xmlrpc_string_new(&env, id);
        xmlrpc_struct_set_value(&env, params, id_key, v);
        xmlrpc_DECREF(v);
    }
    if (name) {
        v = xmlrpc_string_new(&env, name);
        xmlrpc_struct_set_value(&env, params, "name", v);
        xmlrpc_DECREF(v);
    }
    msg = xmlrpc_build_value(&env, "{s:s,s:V}", "samp.mtype", mtype, "samp.params", params);
    args = xmlrpc_build_value(&env, "(sV)", key, msg);
    if (env.fault_occurred) {
        rc = client_fail(err, OTF_E_INVAL, 0, "SAMP message: %.300s", env.fault_string);
        goto out;
    }
    si = xmlrpc_server_info_new(&env, h->xmlrpc_url);
    if (!env.fault_occurred)
        xmlrpc_client_call2(&env, cli, si, "samp.hub.notifyAll", args, &res);
    if (env.fault_occurred) {
        rc = call_failed(&env, h, "samp.hub.notifyAll", err);
        goto out;
    }
    /* SAMP 1.3 §3.11: notifyAll returns the list of the recipients' public ids. */
    *n = xmlrpc_value_type(res) == XMLRPC_TYPE_ARRAY ? xmlrpc_array_size(&env, res) : 0;
out:
    if (si)
        xmlrpc_server_info_free(si);
    if (params)
        xmlrpc_DECREF(params);
    if (msg)
        xmlrpc_DECREF(msg);
    if (args)
        xmlrpc_DECREF(args);
    if (res)
        xmlrpc_DECREF(res);
    xmlrpc_env_clean(&env);
    return rc;
}

enum otf_status otf_client_samp_notify(const struct otf_client_samp_send *s, int *n_table,
                                       int *n_image, struct otf_client_error *err)
{
    struct otf_client_samp_hub h;
    struct xmlrpc_curl_xportparms cx;
    struct xmlrpc_clientparms cp;
    xmlrpc_client *cli = NULL;
    xmlrpc_value *res = NULL, *v = NULL;
    const char *key = NULL;
    char *priv = NULL;
    xmlrpc_env env;
    enum otf_status rc;
    int nt = 0, ni = 0, registered = 0;

    if (!s || (!s->table_url && !s->image_url))
        return client_fail(err, OTF_E_INVAL, 0, "nothing to send over SAMP");
    rc = otf_client_samp_find_hub(&h, err);
    if (rc != OTF_OK)
        return rc;
    xmlrpc_env_init(&env);
    memset(&cx, 0, sizeof cx);
    cx.timeout = (unsigned)(s->timeout_ms > 0 ? s->timeout_ms : SAMP_DEFAULT_TIMEOUT_MS);
    cx.dont_advertise = 1;
    cx.user_agent = "otf/" OTF_VERSION_STRING;
    memset(&cp, 0, sizeof cp);
    cp.transport = "curl";
    cp.transportparmsP = &cx;
    cp.transportparm_size = XMLRPC_CXPSIZE(dont_advertise);
    xmlrpc_client_create(&env, XMLRPC_CLIENT_NO_FLAGS, "otf", OTF_VERSION_STRING, &cp,
                         XMLRPC_CPSIZE(transportparm_size), &cli);
    if (env.fault_occurred) {
        rc = client_fail(err, OTF_E_INTERNAL, 0, "XML-RPC client: %.300s", env.fault_string);
        goto out;
    }
    xmlrpc_client_call2f(&env, cli, h.xmlrpc_url, "samp.hub.register", &res, "(s)", h.secret);
    if (env.fault_occurred) {
        rc = call_failed(&env, &h, "samp.hub.register", err);
        goto out;
    }
    xmlrpc_struct_find_value(&env, res, "samp.private-key", &v);
    if (!env.fault_occurred && v)
        xmlrpc_read_string(&env, v, &key);
    if (env.fault_occurred || !key) {
        rc = client_fail(err, OTF_E_FORMAT, 0, "the SAMP hub's registration has no private key");
        goto out;
    }
    priv = otf_xstrdup(key);
    free((char *)key);
    registered = 1;
    xmlrpc_DECREF(res);
    res = NULL;
    xmlrpc_client_call2f(&env, cli, h.xmlrpc_url, "samp.hub.declareMetadata", &res,
                         "(s{s:s,s:s,s:s})", priv, "samp.name", "otf", "samp.description.text",
                         "CIANNA On-The-Fly: source catalogues of radio images", "otf.version",
                         OTF_VERSION_STRING);
    if (env.fault_occurred) {
        rc = call_failed(&env, &h, "samp.hub.declareMetadata", err);
        goto out;
    }
    if (s->table_url)
        rc = notify(cli, &h, priv, "table.load.votable", "table-id", s->table_url, s->table_id,
                    s->table_name, &nt, err);
    if (rc == OTF_OK && s->image_url)
        rc = notify(cli, &h, priv, "image.load.fits", "image-id", s->image_url, s->image_id,
                    s->image_name, &ni, err);
    if (rc == OTF_OK) {
        if (n_table)
            *n_table = nt;
        if (n_image)
            *n_image = ni;
    }
out:
    if (v)
        xmlrpc_DECREF(v);
    if (res)
        xmlrpc_DECREF(res);
    if (registered && nt + ni > 0) {
        /* Hubs deliver notifications on their own threads, and some (astropy's) drop those whose
         * sender has already unregistered: under load the message was lost (1 run in 4 with
         * another test running). Stay registered a moment so that delivery can start. */
        struct timespec linger = {SAMP_LINGER_MS / 1000, (SAMP_LINGER_MS % 1000) * 1000000L};
        nanosleep(&linger, NULL);
    }
    if (registered) {
        /* Always unregister, also after a failed message: a hub keeps dead clients listed. */
        xmlrpc_value *r2 = NULL;
        xmlrpc_env e2;
        xmlrpc_env_init(&e2);
        xmlrpc_client_call2f(&e2, cli, h.xmlrpc_url, "samp.hub.unregister", &r2, "(s)", priv);
        if (r2)
            xmlrpc_DECREF(r2);
        xmlrpc_env_clean(&e2);
    }
    if (cli)
        xmlrpc_client_destroy(cli);
    xmlrpc_env_clean(&env);
    free(priv);
    return rc;
}

#else /* !OTF_WITH_SAMP */

int otf_client_samp_available(void)
{
    return 0;
}

enum otf_status client_samp_global_init(void)
{
    return OTF_OK;
}

void client_samp_global_cleanup(void)
{
}

enum otf_status otf_client_samp_notify(const struct otf_client_samp_send *s, int *n_table,
                                       int *n_image, struct otf_client_error *err)
{
    (void)n_table, (void)n_image;
    if (!s || (!s->table_url && !s->image_url))
        return client_fail(err, OTF_E_INVAL, 0, "nothing to send over SAMP");
    return client_fail(err, OTF_E_STATE, 0,
                       "built without SAMP support (libxmlrpc-c was missing at build time)");
}

#endif
