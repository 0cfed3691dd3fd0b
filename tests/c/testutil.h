/* Tiny assertion helpers shared by the C tests. */
#ifndef HOSTGATE_TESTUTIL_H
#define HOSTGATE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostgate.h"

static int failures = 0;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                   \
            failures++;                                                       \
        }                                                                     \
    } while (0)

#define CHECK_RESULT(expr, want)                                              \
    do {                                                                      \
        hostgate_result got_ = (expr);                                        \
        if (got_ != (want)) {                                                 \
            fprintf(stderr, "%s:%d: %s: want %s, got %s\n", __FILE__,         \
                    __LINE__, #expr, hostgate_result_name(want),              \
                    hostgate_result_name(got_));                              \
            failures++;                                                       \
        }                                                                     \
    } while (0)

#endif
