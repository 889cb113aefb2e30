/* Replays a fuzz corpus through LLVMFuzzerTestOneInput without libFuzzer (after SQLite's
 * fuzzcheck), so that CI runs every corpus file under gcc + ASan/UBSan. Usage: PROG DIR|FILE... */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fprintf(stderr, "cannot read %s\n", path);
        free(buf);
        fclose(f);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int n_files = 0, bad = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "no such corpus: %s\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            struct dirent **list;
            int k = scandir(argv[i], &list, NULL, alphasort);
            for (int j = 0; j < k; j++) {
                char path[4096];
                if (list[j]->d_name[0] != '.') {
                    snprintf(path, sizeof path, "%s/%s", argv[i], list[j]->d_name);
                    bad |= run_file(path);
                    n_files++;
                }
                free(list[j]);
            }
            free(list);
        } else {
            bad |= run_file(argv[i]);
            n_files++;
        }
    }
    printf("replayed %d corpus files\n", n_files);
    if (n_files == 0) {
        fprintf(stderr, "empty corpus\n");
        return 1;
    }
    return bad;
}
