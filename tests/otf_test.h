/* Common include for cmocka tests: cmocka.h needs these standard headers first, and a sorted
 * include block would otherwise reorder them. */
#ifndef OTF_TEST_H
#define OTF_TEST_H

// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

/* Folder of the repository's test data (tests/data), from OTF_TESTDATA set by CTest. */
#define OTF_TEST_DATA_DIR (getenv("OTF_TESTDATA") ? getenv("OTF_TESTDATA") : "tests/data")

#endif
