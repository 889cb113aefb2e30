/* otf-top: the ncurses dashboard of a CIANNA On-The-Fly service (DESIGN §9). This thread only
 * draws and reads keys; the fetcher thread (otf_top_data.c) does every network call, so the
 * screen never freezes on a slow server. ASCII only, colour when the terminal has it. */
#include <curses.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/otf-top/otf_top.h"
#include "apps/otf/otf_cli.h"
#include "apps/otf/otf_client_util.h"
#include "core/core.h"
#include "otf_build_config.h"

enum { PAIR_TITLE = 1, PAIR_QUEUED, PAIR_RUN, PAIR_DONE, PAIR_ERROR, PAIR_ABORTED, PAIR_DIM };

struct ui {
    struct otf_top *t;
    const char *url;
    int color;
    uint32_t filter;   /* phase bit mask, 0 = all */
    int filter_idx;    /* position in the filter cycle */
    char selected[48]; /* id of the selected job */
    int top_row;       /* first row shown */
    int confirm;       /* 'a' or 'd' waiting for y/n, else 0 */
    char confirm_id[48];
    int show_details, show_help;
    int64_t seen_details;
    char note[1024]; /* status line */
};

static const int filter_cycle[] = {-1,
                                   OTF_CLIENT_PHASE_PENDING,
                                   OTF_CLIENT_PHASE_QUEUED,
                                   OTF_CLIENT_PHASE_EXECUTING,
                                   OTF_CLIENT_PHASE_COMPLETED,
                                   OTF_CLIENT_PHASE_ERROR,
                                   OTF_CLIENT_PHASE_ABORTED,
                                   OTF_CLIENT_PHASE_HELD};
#define N_FILTERS ((int)(sizeof filter_cycle / sizeof filter_cycle[0]))

static int phase_pair(enum otf_client_phase p)
{
    switch (p) {
    case OTF_CLIENT_PHASE_QUEUED:
    case OTF_CLIENT_PHASE_PENDING:
    case OTF_CLIENT_PHASE_HELD:
        return PAIR_QUEUED;
    case OTF_CLIENT_PHASE_EXECUTING:
        return PAIR_RUN;
    case OTF_CLIENT_PHASE_COMPLETED:
        return PAIR_DONE;
    case OTF_CLIENT_PHASE_ERROR:
        return PAIR_ERROR;
    default:
        return PAIR_ABORTED;
    }
}

static void color_on(const struct ui *u, int pair)
{
    if (u->color)
        attron(COLOR_PAIR(pair));
}

static void color_off(const struct ui *u, int pair)
{
    if (u->color)
        attroff(COLOR_PAIR(pair));
}

/* Prints at (y, x) clipped to the screen width. */
static void put(int y, int x, const char *s)
{
    int w = COLS - x;
    if (y < 0 || y >= LINES || w <= 0)
        return;
    mvaddnstr(y, x, s, w);
}

static int visible(const struct ui *u, const struct otf_top_row *r)
{
    return !u->filter || (u->filter & (1u << r->phase));
}

static void sparkline(const double *h, size_t n, int width, char *out)
{
    static const char levels[] = " _.-=+*#";
    double max = 0;
    size_t start = n > (size_t)width ? n - (size_t)width : 0;
    int k = 0;
    for (size_t i = start; i < n; i++)
        max = h[i] > max ? h[i] : max;
    for (size_t i = start; i < n; i++) {
        int l = max > 0 ? (int)(h[i] / max * 7.0 + 0.5) : 0;
        out[k++] = levels[l < 0 ? 0 : l > 7 ? 7 : l];
    }
    out[k] = '\0';
}

static void draw_header(struct ui *u, const struct otf_top_snap *s, int *y)
{
    char line[1024], clock[16];
    time_t now = time(NULL);
    struct tm tm;
    size_t k = 0;

    localtime_r(&now, &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    attron(A_BOLD);
    color_on(u, PAIR_TITLE);
    snprintf(line, sizeof line, "otf-top %s  %s  every %.1fs  filter: %s%s", u->url, clock,
             u->t->interval_ms / 1000.0,
             filter_cycle[u->filter_idx] < 0
                 ? "ALL"
                 : otf_client_phase_name((enum otf_client_phase)filter_cycle[u->filter_idx]),
             u->t->busy ? "  *" : "");
    put((*y)++, 0, line);
    color_off(u, PAIR_TITLE);
    attroff(A_BOLD);
    if (!s) {
        put((*y)++, 0, "connecting...");
        return;
    }
    /* jobs by phase (from /metrics) */
    k = (size_t)snprintf(line, sizeof line, "Jobs:");
    for (int p = 0; p < OTF_CLIENT_PHASE__COUNT; p++) {
        if (s->by_phase[p] > 0)
            k += (size_t)snprintf(line + k, sizeof line - k, " %s %lld",
                                  otf_client_phase_name((enum otf_client_phase)p),
                                  (long long)s->by_phase[p]);
        if (k >= sizeof line)
            k = sizeof line - 1;
    }
    if (s->by_phase[0] < 0)
        snprintf(line + k, sizeof line - k, " %zu shown", s->n_rows);
    put((*y)++, 0, line);
    /* queues per batch key */
    k = (size_t)snprintf(line, sizeof line, "Queues:");
    for (size_t i = 0; i < s->n_queues && k < sizeof line; i++)
        k += (size_t)snprintf(line + k, sizeof line - k, " %s/%s=%lld", s->queues[i].model,
                              s->queues[i].precision, (long long)s->queues[i].depth);
    if (s->n_queues == 0 && k < sizeof line)
        snprintf(line + k, sizeof line - k, " -");
    put((*y)++, 0, line);
    /* resident models and throughput: "-" until workers publish them */
    {
        char rate[32], spark[OTF_TOP_HISTORY + 1];
        if (s->patches_per_s >= 0)
            snprintf(rate, sizeof rate, "%.1f", s->patches_per_s);
        else
            snprintf(rate, sizeof rate, "-");
        sparkline(s->history, s->n_history, COLS > 60 ? COLS - 60 : 1, spark);
        snprintf(line, sizeof line, "Resident: %-24s Patches/s: %-8s %s",
                 s->has_resident && s->resident[0] ? s->resident : "-", rate, spark);
        put((*y)++, 0, line);
    }
    if (s->error[0]) {
        color_on(u, PAIR_ERROR);
        snprintf(line, sizeof line, "! %s", s->error);
        put((*y)++, 0, line);
        color_off(u, PAIR_ERROR);
    }
}

static void draw_table(struct ui *u, const struct otf_top_snap *s, int y0, int y1)
{
    char line[1024], bar[24], age[16], prog[64];
    int sel = -1, n_vis = 0, rows = y1 - y0 - 1, idx = 0;
    int64_t now = otf_time_now_us();

    attron(A_BOLD | A_UNDERLINE);
    snprintf(line, sizeof line, "%-18s %-10s %-10s %-5s %-10s %-24s %8s", "ID", "OWNER", "MODEL",
             "PREC", "PHASE", "PROGRESS", "AGE");
    put(y0, 0, line);
    attroff(A_BOLD | A_UNDERLINE);
    if (!s || rows <= 0)
        return;
    /* Keep the selection on the same job across refreshes; else the first visible one. */
    for (size_t i = 0; i < s->n_rows; i++) {
        if (!visible(u, &s->rows[i]))
            continue;
        if (strcmp(s->rows[i].id, u->selected) == 0)
            sel = n_vis;
        n_vis++;
    }
    if (sel < 0 && n_vis > 0) {
        for (size_t i = 0; i < s->n_rows; i++) {
            if (visible(u, &s->rows[i])) {
                snprintf(u->selected, sizeof u->selected, "%s", s->rows[i].id);
                break;
            }
        }
        sel = 0;
    }
    if (n_vis == 0)
        u->selected[0] = '\0';
    if (sel < u->top_row)
        u->top_row = sel;
    if (sel >= u->top_row + rows)
        u->top_row = sel - rows + 1;
    if (u->top_row < 0)
        u->top_row = 0;
    for (size_t i = 0; i < s->n_rows; i++) {
        const struct otf_top_row *r = &s->rows[i];
        int y;
        if (!visible(u, r))
            continue;
        if (idx < u->top_row || idx >= u->top_row + rows) {
            idx++;
            continue;
        }
        y = y0 + 1 + idx - u->top_row;
        /* progress: [#####.....] done/total from the job's patches */
        {
            int w = 10, fill = 0;
            double frac = r->patches_total > 0 ? (double)r->patches_done / r->patches_total : 0;
            if (r->phase == OTF_CLIENT_PHASE_COMPLETED)
                frac = 1;
            fill = (int)(frac * w + 0.5);
            bar[0] = '[';
            for (int k = 0; k < w; k++)
                bar[1 + k] = k < fill ? '#' : '.';
            bar[w + 1] = ']';
            bar[w + 2] = '\0';
            if (r->patches_total > 0)
                snprintf(prog, sizeof prog, "%s %lld/%lld", bar, (long long)r->patches_done,
                         (long long)r->patches_total);
            else
                snprintf(prog, sizeof prog, "%s %s", bar, r->stage[0] ? r->stage : "-");
        }
        otf_cli_fmt_age((now - r->creation_us) / 1000000, age, sizeof age);
        snprintf(line, sizeof line, "%-18.18s %-10.10s %-10.10s %-5.5s %-10.10s %-24.24s %8s%s",
                 r->id, r->owner, r->model, r->precision, otf_client_phase_name(r->phase), prog,
                 age, r->has_error ? " !" : "");
        if (idx == sel)
            attron(A_REVERSE);
        put(y, 0, line);
        if (idx == sel) {
            /* fill the rest of the selected line */
            int len = (int)strlen(line);
            for (int x = len; x < COLS; x++)
                mvaddch(y, x, ' ');
            attroff(A_REVERSE);
        } else {
            color_on(u, phase_pair(r->phase));
            put(y, 19 + 11 + 11 + 6, otf_client_phase_name(r->phase));
            color_off(u, phase_pair(r->phase));
        }
        idx++;
    }
}

static void draw_box(const char *title, const char *text)
{
    int h = LINES - 4, w = COLS - 6, y = 0;
    const char *p = text;
    if (h < 5 || w < 20)
        return;
    for (int r = 0; r < h; r++) {
        move(2 + r, 3);
        for (int x = 0; x < w; x++)
            addch(r == 0 || r == h - 1 ? '-' : (x == 0 || x == w - 1) ? '|' : ' ');
    }
    attron(A_BOLD);
    mvaddnstr(2, 5, title, w - 4);
    attroff(A_BOLD);
    while (p && *p && y < h - 3) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        /* wrap long lines (error messages) inside the box */
        do {
            int part = len > w - 4 ? w - 4 : len;
            mvaddnstr(3 + y, 5, p, part);
            p += part;
            len -= part;
            y++;
        } while (len > 0 && y < h - 3);
        p = nl ? nl + 1 : NULL;
    }
    mvaddnstr(2 + h - 2, 5, "(Esc, q or Enter closes)", w - 4);
}

static const char help_text[] =
    "Up/Down, j/k, PgUp/PgDn, Home/End, g/G   select a job\n"
    "Enter or i   details of the selected job (parameters, progress, error, results)\n"
    "a            abort the selected job (asks y/n)\n"
    "d or Del     delete the selected job (asks y/n)\n"
    "s            save the selected job's results into the output folder\n"
    "f / F        next / previous phase filter (ALL, PENDING, QUEUED, EXECUTING, ...)\n"
    "r            refresh now\n"
    "+ / -        slower / faster refresh\n"
    "h or ?       this help\n"
    "q            quit\n";

static void draw(struct ui *u)
{
    struct otf_top *t = u->t;
    int y = 0;

    erase();
    pthread_mutex_lock(&t->lock);
    draw_header(u, t->snap, &y);
    draw_table(u, t->snap, y + 1, LINES - 1);
    if (t->message_seq) {
        snprintf(u->note, sizeof u->note, "%s", t->message);
        t->message_seq = 0;
    }
    if (u->show_details && t->details_seq != u->seen_details && t->details) {
        char title[96];
        snprintf(title, sizeof title, " job %s ", t->details_id);
        draw_box(title, t->details);
    } else if (u->show_details) {
        draw_box(" details ", "loading...");
    }
    pthread_mutex_unlock(&t->lock);
    if (u->show_help)
        draw_box(" otf-top keys ", help_text);
    /* status line */
    attron(A_REVERSE);
    {
        char line[1200];
        if (u->confirm)
            snprintf(line, sizeof line, "%s job %s? (y/n)", u->confirm == 'a' ? "Abort" : "Delete",
                     u->confirm_id);
        else
            snprintf(line, sizeof line,
                     "%s%sq quit  Enter details  a abort  d delete  s save  "
                     "f filter  r refresh  h help",
                     u->note, u->note[0] ? "  |  " : "");
        put(LINES - 1, 0, line);
        for (int x = (int)strlen(line); x < COLS; x++)
            mvaddch(LINES - 1, x, ' ');
    }
    attroff(A_REVERSE);
    refresh();
}

/* Moves the selection by `delta` visible rows (clamped). */
static void move_sel(struct ui *u, int delta)
{
    struct otf_top *t = u->t;
    int cur = -1, n = 0;
    char **ids;

    pthread_mutex_lock(&t->lock);
    if (!t->snap) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    ids = otf_xcalloc(t->snap->n_rows + 1, sizeof *ids);
    for (size_t i = 0; i < t->snap->n_rows; i++) {
        if (!visible(u, &t->snap->rows[i]))
            continue;
        if (strcmp(t->snap->rows[i].id, u->selected) == 0)
            cur = n;
        ids[n++] = t->snap->rows[i].id;
    }
    if (n > 0) {
        int k = cur < 0 ? 0 : cur + delta;
        if (k < 0)
            k = 0;
        if (k >= n)
            k = n - 1;
        snprintf(u->selected, sizeof u->selected, "%s", ids[k]);
    }
    free(ids);
    pthread_mutex_unlock(&t->lock);
}

static void key(struct ui *u, int ch, int *quit)
{
    struct otf_top *t = u->t;
    int page = LINES > 10 ? LINES - 8 : 1;

    if (u->confirm) {
        if (ch == 'y' || ch == 'Y') {
            otf_top_post(t, u->confirm == 'a' ? OTF_TOP_ABORT : OTF_TOP_DELETE, u->confirm_id);
            snprintf(u->note, sizeof u->note, "%s %s...",
                     u->confirm == 'a' ? "aborting" : "deleting", u->confirm_id);
        } else {
            snprintf(u->note, sizeof u->note, "cancelled");
        }
        u->confirm = 0;
        return;
    }
    if (u->show_details || u->show_help) {
        if (ch == 27 || ch == 'q' || ch == '\n' || ch == KEY_ENTER || ch == 'i' || ch == 'h' ||
            ch == '?') {
            u->show_details = u->show_help = 0;
            pthread_mutex_lock(&t->lock);
            u->seen_details = t->details_seq;
            pthread_mutex_unlock(&t->lock);
        }
        return;
    }
    switch (ch) {
    case 'q':
    case KEY_F(10):
        *quit = 1;
        break;
    case KEY_UP:
    case 'k':
        move_sel(u, -1);
        break;
    case KEY_DOWN:
    case 'j':
        move_sel(u, 1);
        break;
    case KEY_PPAGE:
        move_sel(u, -page);
        break;
    case KEY_NPAGE:
        move_sel(u, page);
        break;
    case KEY_HOME:
    case 'g':
        move_sel(u, -1000000);
        break;
    case KEY_END:
    case 'G':
        move_sel(u, 1000000);
        break;
    case 'f':
    case 'F':
        u->filter_idx = (u->filter_idx + (ch == 'f' ? 1 : N_FILTERS - 1)) % N_FILTERS;
        u->filter = filter_cycle[u->filter_idx] < 0 ? 0 : 1u << filter_cycle[u->filter_idx];
        u->top_row = 0;
        break;
    case 'a':
    case 'd':
    case KEY_DC:
        if (u->selected[0]) {
            u->confirm = ch == KEY_DC ? 'd' : ch;
            snprintf(u->confirm_id, sizeof u->confirm_id, "%s", u->selected);
        }
        break;
    case '\n':
    case KEY_ENTER:
    case 'i':
        if (u->selected[0]) {
            pthread_mutex_lock(&t->lock);
            u->seen_details = t->details_seq;
            pthread_mutex_unlock(&t->lock);
            u->show_details = 1;
            otf_top_post(t, OTF_TOP_DETAILS, u->selected);
        }
        break;
    case 's':
        if (u->selected[0]) {
            otf_top_post(t, OTF_TOP_SAVE, u->selected);
            snprintf(u->note, sizeof u->note, "saving results of %s...", u->selected);
        }
        break;
    case 'r':
        otf_top_refresh(t);
        break;
    case '+':
    case '-':
        pthread_mutex_lock(&t->lock);
        t->interval_ms = ch == '+' ? t->interval_ms * 2 : t->interval_ms / 2;
        if (t->interval_ms < 250)
            t->interval_ms = 250;
        if (t->interval_ms > 60000)
            t->interval_ms = 60000;
        pthread_mutex_unlock(&t->lock);
        break;
    case 'h':
    case '?':
        u->show_help = 1;
        break;
    default:
        break;
    }
}

/* ---- command line ---- */

enum { TOP_INTERVAL = OTF_CLI_OPT_FIRST_LOCAL, TOP_NO_COLOR, TOP_PHASE, TOP_OUTPUT };

static const char usage_text[] =
    "usage: otf-top [--url URL] [--interval S] [--phase P] [--no-color] [-o DIR]\n"
    "Live dashboard of a CIANNA On-The-Fly service: jobs, queues per batch key, resident\n"
    "models, patches/s. Keys: Enter details, a abort, d delete, s save results, f filter,\n"
    "r refresh, +/- interval, h help, q quit.\n"
    "  --interval S      refresh every S seconds (default 2)\n"
    "  --phase P         start with the jobs of phase P only\n"
    "  --no-color        no colours (also when NO_COLOR is set)\n"
    "  -o, --output DIR  where 's' saves results (default .)\n";

static const struct option top_opts[] = {
    {"interval", required_argument, NULL, TOP_INTERVAL},
    {"no-color", no_argument, NULL, TOP_NO_COLOR},
    {"phase", required_argument, NULL, TOP_PHASE},
    {"output", required_argument, NULL, 'o'},
    {NULL, 0, NULL, 0},
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

int main(int argc, char **argv)
{
    struct otf_cli cl;
    struct otf_client_options o = {0};
    struct otf_top t;
    struct ui u;
    struct option *opts;
    const char *out_dir = ".";
    double interval_s = 2;
    int no_color = getenv("NO_COLOR") != NULL, id, quit = 0, rc = OTF_CLI_EXIT_OK;
    int64_t last_draw = 0, last_seq = -1;

    memset(&u, 0, sizeof u);
    otf_log_setup(OTF_LOG_OFF, NULL);
    otf_cli_init(&cl, "top", NULL);
    opts = otf_cli_options(top_opts);
    while ((id = getopt_long(argc, argv, "qho:", opts, NULL)) != -1) {
        int r = otf_cli_common_option(&cl, id, optarg);
        if (r < 0) {
            free(opts);
            return OTF_CLI_EXIT_USAGE;
        }
        if (r == 1)
            continue;
        switch (id) {
        case 'h':
            fputs(usage_text, stdout);
            fputs(otf_cli_common_help, stdout);
            free(opts);
            return OTF_CLI_EXIT_OK;
        case TOP_INTERVAL:
            if (otf_str_to_double(optarg, &interval_s) != OTF_OK || interval_s < 0.25 ||
                interval_s > 3600) {
                free(opts);
                return otf_cli_usage_error(&cl, "--interval needs seconds in [0.25, 3600]");
            }
            break;
        case TOP_NO_COLOR:
            no_color = 1;
            break;
        case TOP_PHASE: {
            enum otf_client_phase p;
            if (otf_client_phase_parse(optarg, &p) != OTF_OK) {
                free(opts);
                return otf_cli_usage_error(&cl, "unknown phase '%s'", optarg);
            }
            for (int i = 0; i < N_FILTERS; i++) {
                if (filter_cycle[i] == (int)p)
                    u.filter_idx = i;
            }
            u.filter = 1u << p;
            break;
        }
        case 'o':
            out_dir = optarg;
            break;
        default:
            free(opts);
            fprintf(stderr, "(see otf-top --help)\n");
            return OTF_CLI_EXIT_USAGE;
        }
    }
    free(opts);
    if (optind < argc)
        return otf_cli_usage_error(&cl, "unexpected argument '%s'", argv[optind]);
    /* A dashboard must stay responsive: short timeouts and no retries unless asked. */
    if (!cl.request_timeout_ms)
        cl.request_timeout_ms = 5000;
    if (!cl.connect_timeout_ms)
        cl.connect_timeout_ms = 3000;
    if (cl.retries == -2)
        cl.retries = -1;
    if ((rc = otf_cli_connect(&cl)) != 0) {
        otf_cli_cleanup(&cl);
        return rc;
    }
    o.url = cl.url;
    o.token = cl.token;
    o.ca_file = cl.cacert;
    o.tls_insecure = cl.insecure;
    o.timeout_ms = cl.request_timeout_ms;
    o.connect_timeout_ms = cl.connect_timeout_ms;
    o.stall_timeout_s = 30;
    o.max_retries = cl.retries;
    otf_top_init(&t, &o, (int)(interval_s * 1000), out_dir);
    u.t = &t;
    u.url = cl.url;
    if (otf_top_start(&t) != 0) {
        fprintf(stderr, "otf-top: %s\n", t.message);
        otf_top_cleanup(&t);
        otf_cli_cleanup(&cl);
        return OTF_CLI_EXIT_FAIL;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    setlocale(LC_ALL, "");
    if (!initscr()) {
        otf_top_stop(&t);
        otf_top_cleanup(&t);
        otf_cli_cleanup(&cl);
        return OTF_CLI_EXIT_FAIL;
    }
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    timeout(100);
    set_escdelay(50);
    if (!no_color && has_colors()) {
        start_color();
        use_default_colors();
        init_pair(PAIR_TITLE, COLOR_CYAN, -1);
        init_pair(PAIR_QUEUED, COLOR_BLUE, -1);
        init_pair(PAIR_RUN, COLOR_YELLOW, -1);
        init_pair(PAIR_DONE, COLOR_GREEN, -1);
        init_pair(PAIR_ERROR, COLOR_RED, -1);
        init_pair(PAIR_ABORTED, COLOR_MAGENTA, -1);
        init_pair(PAIR_DIM, COLOR_WHITE, -1);
        u.color = 1;
    }
    while (!quit && !got_signal) {
        int ch = getch();
        int64_t now = otf_time_mono_us(), seq;
        if (ch == KEY_RESIZE) {
            clear(); /* redraw from scratch at the new size */
        } else if (ch != ERR) {
            key(&u, ch, &quit);
        }
        pthread_mutex_lock(&t.lock);
        seq = t.snap_seq + t.details_seq * 1000003 + t.message_seq * 7919 + t.busy;
        pthread_mutex_unlock(&t.lock);
        /* Redraw on input, on news from the fetcher, and each second for the clock and ages. */
        if (ch != ERR || seq != last_seq || now - last_draw > 1000000) {
            draw(&u);
            last_draw = now;
            last_seq = seq;
        }
    }
    endwin();
    otf_top_stop(&t);
    otf_top_cleanup(&t);
    otf_cli_cleanup(&cl);
    return OTF_CLI_EXIT_OK;
}
