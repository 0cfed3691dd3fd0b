/* Runs tests/conformance/table.tsv through the C ABI: one row at a time, then one batch per
 * (file, policy) group. Usage: test_conformance CONFORMANCE_DIR */
#include "table.h"

static table t;

int main(int argc, char **argv) {
    size_t i, j;
    char got[512];
    if (argc != 2) {
        fprintf(stderr, "usage: %s tests/conformance\n", argv[0]);
        return 2;
    }
    table_load(&t, argv[1]);
    CHECK(t.count >= 40);

    for (i = 0; i < t.count; i++) {
        row *r = &t.rows[i];
        hostgate_verdict v;
        CHECK_RESULT(hostgate_check(r->engine, r->policy_index, r->name, r->name_len, r->port,
                                    r->via, &v),
                     HOSTGATE_RESULT_OK);
        render(&v, got, sizeof got);
        if (strcmp(got, r->expected) != 0) {
            fprintf(stderr, "table.tsv:%d: %s %s: want `%s`, got `%s`\n", r->lineno, r->file,
                    r->policy, r->expected, got);
            failures++;
        }
    }

    /* Batches: every row whose (file, policy) equals row i's, in one call. */
    for (i = 0; i < t.count; i++) {
        static char names[MAX_ROWS * 512];
        static hostgate_query queries[MAX_ROWS];
        static hostgate_verdict out[MAX_ROWS];
        static size_t index[MAX_ROWS];
        size_t n = 0, used = 0;
        int seen = 0;
        for (j = 0; j < i; j++)
            if (t.rows[j].engine == t.rows[i].engine &&
                t.rows[j].policy_index == t.rows[i].policy_index)
                seen = 1;
        if (seen) continue;
        for (j = i; j < t.count; j++) {
            row *r = &t.rows[j];
            if (r->engine != t.rows[i].engine || r->policy_index != t.rows[i].policy_index)
                continue;
            queries[n].offset = used;
            queries[n].len = r->name_len;
            queries[n].port = r->port;
            queries[n].via = r->via;
            memcpy(names + used, r->name, r->name_len);
            used += r->name_len;
            index[n++] = j;
        }
        CHECK_RESULT(hostgate_check_batch(t.rows[i].engine, t.rows[i].policy_index, names, used,
                                          queries, n, out),
                     HOSTGATE_RESULT_OK);
        for (j = 0; j < n; j++) {
            render(&out[j], got, sizeof got);
            if (strcmp(got, t.rows[index[j]].expected) != 0) {
                fprintf(stderr, "table.tsv:%d (batch): want `%s`, got `%s`\n",
                        t.rows[index[j]].lineno, t.rows[index[j]].expected, got);
                failures++;
            }
        }
    }

    table_free(&t);
    printf("conformance (C): %zu rows, %d failures\n", t.count, failures);
    return failures ? 1 : 0;
}
