/* otf: what the service commands share: the resolved settings (flags > environment > config
 * file), option parsing, error reporting with the stable exit codes, JSON output and progress
 * bars on a terminal. Used from the main thread only. */
#ifndef OTF_CLIENT_UTIL_H
#define OTF_CLIENT_UTIL_H

#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "otf/otf_client.h"

/* Settings and state of one command run. */
struct otf_cli {
    const char *cmd;         /* command name, for messages */
    char *url;               /* resolved service URL (owned) */
    char *token;             /* resolved bearer token (owned), or NULL */
    char *cacert;            /* CA bundle (owned), or NULL */
    int json;                /* --json: machine-readable output on stdout */
    int quiet;               /* -q: no progress, no notes */
    int insecure;            /* --insecure: no TLS verification */
    long request_timeout_ms; /* --request-timeout, ms, 0 = library default */
    long connect_timeout_ms; /* --connect-timeout, ms, 0 = library default */
    int retries;             /* --retries, -2 = library default, -1 = none */
    int progress;            /* progress bars: stderr is a terminal and not quiet */
    struct otf_client *c;    /* open client (otf_cli_connect), or NULL */
    /* values from the command line, applied over the environment and the config file */
    const char *opt_url, *opt_token, *opt_config;
};

/* Common options: their ids, and the table that command tables start with. */
enum {
    OTF_CLI_OPT_URL = 1000,
    OTF_CLI_OPT_TOKEN,
    OTF_CLI_OPT_JSON,
    OTF_CLI_OPT_INSECURE,
    OTF_CLI_OPT_CACERT,
    OTF_CLI_OPT_REQ_TIMEOUT,
    OTF_CLI_OPT_CONN_TIMEOUT,
    OTF_CLI_OPT_RETRIES,
    OTF_CLI_OPT_CONFIG,
    OTF_CLI_OPT_FIRST_LOCAL /* commands number their own options from here */
};

/* Lines of --help for the common options. */
extern const char otf_cli_common_help[];

/* Initialises `cl` for command `cmd`; `preset` (may be NULL) carries global options given
 * before the command name. */
void otf_cli_init(struct otf_cli *cl, const char *cmd, const struct otf_cli *preset);
void otf_cli_cleanup(struct otf_cli *cl);

/* Handles a common option; returns 1 if `id` was one, 0 if not, -1 on a bad value (message
 * printed). */
int otf_cli_common_option(struct otf_cli *cl, int id, const char *arg);

/* Builds the getopt_long table: the common options followed by `local` (terminated by a zero
 * entry). Free the result with free(). */
struct option *otf_cli_options(const struct option *local);

/* Resolves the settings and opens the client. Returns 0 or an exit code (message printed). */
int otf_cli_connect(struct otf_cli *cl);

/* Exit code for a failed library call. */
int otf_cli_exit_for(enum otf_status st, const struct otf_client_error *e);
/* Exit code for a job's final phase (0 for COMPLETED). */
int otf_cli_exit_for_phase(enum otf_client_phase p);

/* Prints "otf CMD: message" on stderr. */
void otf_cli_error(const struct otf_cli *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Reports a failed call: the line on stderr and, with --json, {"error", "exit"} on stdout.
 * Returns the exit code. */
int otf_cli_fail(const struct otf_cli *cl, enum otf_status st, const struct otf_client_error *e);
/* Usage error: message on stderr plus a hint; returns OTF_CLI_EXIT_USAGE. */
int otf_cli_usage_error(const struct otf_cli *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints `v` (consumed) as JSON on stdout with a newline. */
void otf_cli_print_json(json_t *v);
/* A job as JSON: the document the server sent (or its job-list entry). */
json_t *otf_cli_job_json(const struct otf_client_job *j);
/* JSON text for an exit code's name ("ok", "job_error", ...). */
const char *otf_cli_exit_name(int code);

/* ---- progress on stderr (only when cl->progress) ---- */

struct otf_cli_bar {
    const struct otf_cli *cl;
    const char *label;
    int64_t last_us; /* last redraw, monotonic */
    int drawn;       /* a line is on screen */
};

void otf_cli_bar_init(struct otf_cli_bar *b, const struct otf_cli *cl, const char *label);
/* Redraws "label [####    ] NN% right" at most 10 times a second (always when `force`). */
void otf_cli_bar_draw(struct otf_cli_bar *b, double frac, const char *right, int force);
/* Clears the line. */
void otf_cli_bar_done(struct otf_cli_bar *b);
/* Upload progress callback for otf_client_submit (user = struct otf_cli_bar). */
int otf_cli_bar_bytes(void *user, int64_t done, int64_t total);

/* Human text for a byte count ("1.2 MiB") and an age in seconds ("3m12s"). */
void otf_cli_fmt_bytes(int64_t n, char *out, size_t size);
void otf_cli_fmt_age(int64_t secs, char *out, size_t size);

#endif
