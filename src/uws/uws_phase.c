/* UWS 1.1 execution phases ("Execution Phase" section and its state diagram): names, the
 * client actions RUN/ABORT, and the table of server-driven phase changes. */
#include <string.h>

#include "uws/uws.h"

static const char *const phase_names[OTF_PHASE__COUNT] = {
    [OTF_PHASE_PENDING] = "PENDING",     [OTF_PHASE_QUEUED] = "QUEUED",
    [OTF_PHASE_EXECUTING] = "EXECUTING", [OTF_PHASE_COMPLETED] = "COMPLETED",
    [OTF_PHASE_ERROR] = "ERROR",         [OTF_PHASE_ABORTED] = "ABORTED",
    [OTF_PHASE_UNKNOWN] = "UNKNOWN",     [OTF_PHASE_HELD] = "HELD",
    [OTF_PHASE_SUSPENDED] = "SUSPENDED", [OTF_PHASE_ARCHIVED] = "ARCHIVED",
};

/* Phases a job may move to from each phase, as bit sets. Final phases only go to ARCHIVED (the
 * destruction reaper may also archive a job that never ran). EXECUTING -> QUEUED is the retry of
 * a job whose worker died (DESIGN §2); SUSPENDED -> QUEUED lets a suspended job be rescheduled. */
#define B OTF_PHASE_BIT
static const unsigned phase_next[OTF_PHASE__COUNT] = {
    [OTF_PHASE_PENDING] = B(OTF_PHASE_QUEUED) | B(OTF_PHASE_HELD) | B(OTF_PHASE_ABORTED) |
                          B(OTF_PHASE_ERROR) | B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_QUEUED] = B(OTF_PHASE_EXECUTING) | B(OTF_PHASE_HELD) | B(OTF_PHASE_ABORTED) |
                         B(OTF_PHASE_ERROR) | B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_EXECUTING] = B(OTF_PHASE_COMPLETED) | B(OTF_PHASE_ERROR) | B(OTF_PHASE_ABORTED) |
                            B(OTF_PHASE_SUSPENDED) | B(OTF_PHASE_QUEUED) | B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_COMPLETED] = B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_ERROR] = B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_ABORTED] = B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_UNKNOWN] = B(OTF_PHASE_ERROR) | B(OTF_PHASE_ABORTED) | B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_HELD] =
        B(OTF_PHASE_QUEUED) | B(OTF_PHASE_ABORTED) | B(OTF_PHASE_ERROR) | B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_SUSPENDED] = B(OTF_PHASE_EXECUTING) | B(OTF_PHASE_QUEUED) | B(OTF_PHASE_ABORTED) |
                            B(OTF_PHASE_ERROR) | B(OTF_PHASE_ARCHIVED),
    [OTF_PHASE_ARCHIVED] = 0,
};
#undef B

static int valid(enum otf_phase p)
{
    return (unsigned)p < OTF_PHASE__COUNT;
}

const char *otf_uws_phase_name(enum otf_phase p)
{
    return valid(p) ? phase_names[p] : "UNKNOWN";
}

enum otf_status otf_uws_phase_parse(const char *s, enum otf_phase *out)
{
    if (!s)
        return OTF_E_INVAL;
    /* DALI: parameter values are case-sensitive, so "run" or "queued" are not phases. */
    for (int i = 0; i < OTF_PHASE__COUNT; i++) {
        if (strcmp(s, phase_names[i]) == 0) {
            *out = (enum otf_phase)i;
            return OTF_OK;
        }
    }
    return OTF_E_INVAL;
}

int otf_uws_phase_is_final(enum otf_phase p)
{
    return p == OTF_PHASE_COMPLETED || p == OTF_PHASE_ERROR || p == OTF_PHASE_ABORTED ||
           p == OTF_PHASE_ARCHIVED;
}

int otf_uws_phase_is_active(enum otf_phase p)
{
    return p == OTF_PHASE_PENDING || p == OTF_PHASE_QUEUED || p == OTF_PHASE_EXECUTING;
}

int otf_uws_phase_can_change(enum otf_phase from, enum otf_phase to)
{
    if (!valid(from) || !valid(to))
        return 0;
    if (from == to)
        return 1;
    return (phase_next[from] & OTF_PHASE_BIT(to)) != 0;
}

enum otf_status otf_uws_phase_after(enum otf_phase from, enum otf_uws_action act,
                                    enum otf_phase *to, struct otf_errbuf *eb)
{
    if (!valid(from))
        return OTF_FAIL(eb, OTF_E_INVAL, "invalid phase %d", (int)from);
    switch (act) {
    case OTF_UWS_ACTION_RUN:
        if (from == OTF_PHASE_PENDING || from == OTF_PHASE_HELD) {
            *to = OTF_PHASE_QUEUED;
            return OTF_OK;
        }
        /* A repeated RUN (e.g. a client retrying its POST) must not fail a job already on its
         * way. */
        if (from == OTF_PHASE_QUEUED || from == OTF_PHASE_EXECUTING) {
            *to = from;
            return OTF_OK;
        }
        return OTF_FAIL(eb, OTF_E_STATE, "PHASE=RUN is not allowed in phase %s", phase_names[from]);
    case OTF_UWS_ACTION_ABORT:
        if (from == OTF_PHASE_PENDING || from == OTF_PHASE_QUEUED || from == OTF_PHASE_EXECUTING ||
            from == OTF_PHASE_HELD || from == OTF_PHASE_SUSPENDED) {
            *to = OTF_PHASE_ABORTED;
            return OTF_OK;
        }
        return OTF_FAIL(eb, OTF_E_STATE, "PHASE=ABORT is not allowed in phase %s",
                        phase_names[from]);
    }
    return OTF_FAIL(eb, OTF_E_INVAL, "unknown phase action %d", (int)act);
}
