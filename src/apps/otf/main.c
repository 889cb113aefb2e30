/* otf: the command-line client. A table maps the first argument to a subcommand; adding one is
 * a new entry here and a new otf_cli_<name>() in its own file. */
#include <stdio.h>
#include <string.h>

#include "apps/otf/otf_cli.h"
#include "apps/otf/otf_client_cmd.h"
#include "core/core.h"
#include "otf_build_config.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"model", otf_cli_model, "inspect CIANNA models and run them on raw float32 inputs"},
    {"detect", otf_cli_detect, "detect sources in a FITS image offline (no server)"},
    {"score", otf_cli_score, "SDC1 score of a catalogue against a truth catalogue"},
    {"submit", otf_cli_submit, "upload FITS files as jobs to a service (docs/cli.md)"},
    {"status", otf_cli_status, "show a job"},
    {"list", otf_cli_list, "list jobs"},
    {"wait", otf_cli_wait, "wait for jobs to end"},
    {"results", otf_cli_results, "list a job's results"},
    {"fetch", otf_cli_fetch, "download a job's results"},
    {"abort", otf_cli_abort, "abort jobs"},
    {"delete", otf_cli_delete, "delete jobs"},
    {"models", otf_cli_models, "list the service's models"},
    {"samp", otf_cli_samp, "send a job's catalogue to TOPCAT/Aladin over SAMP"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: otf <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'otf <command> --help' describes a command. otf %s\n", OTF_VERSION_STRING);
}

int main(int argc, char **argv)
{
    otf_log_setup(OTF_LOG_WARN, NULL);
    if (argc < 2) {
        usage(stderr);
        return OTF_CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return OTF_CLI_EXIT_OK;
    }
    if (otf_cli_client_is_global(argv[1])) /* otf --url URL submit ... */
        return otf_cli_client_main(argc, argv);
    if (strcmp(argv[1], "--version") == 0) {
        printf("otf %s\n", OTF_VERSION_STRING);
        return OTF_CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "otf: unknown command '%s' (see otf --help)\n", argv[1]);
    return OTF_CLI_EXIT_USAGE;
}
