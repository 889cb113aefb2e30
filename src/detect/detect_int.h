/* detect: declarations shared by the files of this folder only. */
#ifndef OTF_DETECT_INT_H
#define OTF_DETECT_INT_H

#include "detect/detect.h"

/* floor(a / b) for b > 0 and any sign of a. */
static inline int64_t detect_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Median of n values with numpy's convention (mean of the two middle values when n is even);
 * reorders `v`. n >= 1. */
double detect_median(float *v, size_t n);

/* A bound on the reach of the DIoU levels: two boxes whose centres are at least
 * factor * (hd_a + hd_b) apart (hd: half-diagonal) have DIoU <= every level's threshold.
 * INFINITY when a level lets every pair through (threshold <= -1); 0 without levels. */
double detect_reach_factor(const struct otf_detect_level *levels, size_t n_levels);

#endif
