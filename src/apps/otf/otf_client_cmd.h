/* otf: the service commands (submit, status, list, wait, results, fetch, abort, delete, models,
 * samp)
 * built on libotfclient. Each entry takes the arguments from its own name on (argv[0] = the
 * command name), prints errors as one line on stderr (and as a JSON object on stdout with
 * --json) and returns one of the exit codes below, which docs/cli.md documents. The codes are
 * stable: never change or reuse one. */
#ifndef OTF_CLIENT_CMD_H
#define OTF_CLIENT_CMD_H

#define OTF_CLI_EXIT_JOB_ERROR   3  /* a job ended in phase ERROR */
#define OTF_CLI_EXIT_JOB_ABORTED 4  /* a job ended in phase ABORTED (or was deleted) */
#define OTF_CLI_EXIT_TIMEOUT     5  /* --timeout passed, or the server did not answer in time */
#define OTF_CLI_EXIT_NOTFOUND    6  /* no such job, result or model */
#define OTF_CLI_EXIT_NETWORK     7  /* cannot reach the server (refused, DNS, TLS, reset) */
#define OTF_CLI_EXIT_SERVER      8  /* server failure: 5xx, still busy after retries, bad answer */
#define OTF_CLI_EXIT_REFUSED     9  /* the server refused the request: bad parameter, wrong phase */
#define OTF_CLI_EXIT_AUTH        10 /* missing or wrong token (401/403) */
#define OTF_CLI_EXIT_SAMP        11 /* --samp / otf samp: no SAMP hub, bad lockfile, hub refused */

int otf_cli_submit(int argc, char **argv);
int otf_cli_status(int argc, char **argv);
int otf_cli_list(int argc, char **argv);
int otf_cli_wait(int argc, char **argv);
int otf_cli_results(int argc, char **argv);
int otf_cli_fetch(int argc, char **argv);
int otf_cli_abort(int argc, char **argv);
int otf_cli_delete(int argc, char **argv);
int otf_cli_models(int argc, char **argv);
int otf_cli_samp(int argc, char **argv);

/* 1 when `arg` is a global option of the service commands (--url, --token, --json, ...) that
 * may come before the command name: `otf --url URL submit ...`. */
int otf_cli_client_is_global(const char *arg);
/* Parses leading global options, then runs the service command that follows (argv[0] = "otf"). */
int otf_cli_client_main(int argc, char **argv);

#endif
