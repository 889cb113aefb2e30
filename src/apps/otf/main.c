/* otf: the command-line client. A table maps the first argument to a subcommand; adding one is
 * a new entry here and a new otf_cli_<name>() in its own file. */
#include <stdio.h>
#include <string.h>

#include "apps/otf/otf_cli.h"
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
