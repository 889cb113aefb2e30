/* Bearer tokens (DESIGN §8). The tokens file holds one "SHA256HEX OWNER [admin]" per line
 * ('#' comments); only hashes are stored, so the file leaks no usable token. Without a tokens
 * file the service runs in anonymous mode (local use): every job belongs to nobody. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

#define TOKENS_FILE_MAX (4 << 20)

enum otf_status http_auth_load(struct otf_http_server *srv, struct otf_errbuf *eb)
{
    const char *path = srv->p.http.tokens_file;
    char *text = NULL, *save = NULL, *line;
    size_t len, cap = 0;
    int lineno = 0;
    enum otf_status rc;

    srv->anonymous = !path || !*path;
    if (srv->anonymous)
        return OTF_OK;
    if ((rc = otf_fs_read_file(path, TOKENS_FILE_MAX, &text, &len, eb)) != OTF_OK)
        return rc;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char hash[80], owner[128], flag[16] = "";
        int n;
        lineno++;
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '#' || *line == '\0')
            continue;
        n = sscanf(line, "%79s %127s %15s", hash, owner, flag);
        if (n < 2 || strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64 ||
            !otf_str_is_safe_name(owner)) {
            free(text);
            return OTF_FAIL(eb, OTF_E_FORMAT,
                            "%s:%d: expected 'SHA256HEX OWNER [admin]' (lower-case hex)", path,
                            lineno);
        }
        if (srv->n_tokens == cap) {
            cap = cap ? cap * 2 : 16;
            srv->tokens = otf_xrealloc(srv->tokens, cap * sizeof *srv->tokens);
        }
        memcpy(srv->tokens[srv->n_tokens].sha256_hex, hash, 65);
        srv->tokens[srv->n_tokens].owner = otf_xstrdup(owner);
        srv->tokens[srv->n_tokens].is_admin = strcmp(flag, "admin") == 0;
        srv->n_tokens++;
    }
    free(text);
    otf_log_info("http", "%zu bearer tokens loaded from %s", srv->n_tokens, path);
    return OTF_OK;
}

void http_auth_free(struct otf_http_server *srv)
{
    for (size_t i = 0; i < srv->n_tokens; i++)
        free(srv->tokens[i].owner);
    free(srv->tokens);
    srv->tokens = NULL;
    srv->n_tokens = 0;
}

/* Constant-time comparison of two 64-character hex strings. */
static int hex_eq(const char *a, const char *b)
{
    unsigned d = 0;
    for (int i = 0; i < 64; i++)
        d |= (unsigned)(a[i] ^ b[i]);
    return d == 0;
}

unsigned http_auth_check(struct http_request *r)
{
    const char *h;
    struct otf_sha256 s;
    uint8_t dg[32];
    char hex[65];
    const struct otf_http_server *srv = r->srv;

    if (srv->anonymous)
        return 0;
    /* Liveness and service descriptions stay public (VOSI). */
    if (strcmp(r->url, "/health") == 0 || strcmp(r->url, "/availability") == 0 ||
        strcmp(r->url, "/capabilities") == 0 || strcmp(r->url, "/") == 0)
        return 0;
    h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return MHD_HTTP_UNAUTHORIZED;
    h += 7;
    while (*h == ' ')
        h++;
    otf_sha256_init(&s);
    otf_sha256_update(&s, h, strlen(h));
    otf_sha256_final(&s, dg);
    otf_sha256_hex(dg, hex);
    for (size_t i = 0; i < srv->n_tokens; i++) {
        if (hex_eq(hex, srv->tokens[i].sha256_hex)) {
            r->owner = otf_xstrdup(srv->tokens[i].owner);
            r->is_admin = srv->tokens[i].is_admin;
            return 0;
        }
    }
    return MHD_HTTP_UNAUTHORIZED;
}
