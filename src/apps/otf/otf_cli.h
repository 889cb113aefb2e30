/* otf command: subcommand entry points. Each takes the arguments after its own name
 * (argv[0] = the subcommand name), prints one-line errors on stderr and returns the exit code:
 * 0 ok, 2 usage, 1 any other failure. */
#ifndef OTF_CLI_H
#define OTF_CLI_H

#define OTF_CLI_EXIT_OK    0
#define OTF_CLI_EXIT_FAIL  1
#define OTF_CLI_EXIT_USAGE 2

/* `otf model info|forward ...` (otf_model_cmd.c). */
int otf_cli_model(int argc, char **argv);
/* `otf detect FILE.fits --model ID|DIR ...` (otf_detect_cmd.c). */
int otf_cli_detect(int argc, char **argv);
/* `otf score SUBMISSION TRUTH ...` (otf_score_cmd.c). */
int otf_cli_score(int argc, char **argv);

#endif
