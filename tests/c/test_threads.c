/* Many threads check one engine at once (the documented usage): every thread runs the whole
 * contract query table (tests/contract/queries.tsv) many times, single calls and batches, and
 * compares with the table. Usage: test_threads CONTRACT_DIR [THREADS] [ROUNDS] */
#include <pthread.h>

#include "contract.h"

static table t;
static int rounds = 50;

static void *worker(void *arg) {
    size_t i, k;
    long bad = 0;
    char got[512];
    hostgate_verdict v[4];
    hostgate_query q[4];
    (void)arg;
    for (k = 0; k < (size_t)rounds; k++) {
        for (i = 0; i < t.count; i++) {
            row *r = &t.rows[i];
            if (hostgate_check(r->engine, r->policy_index, r->name, r->name_len, r->port, r->via,
                               &v[0]) != HOSTGATE_RESULT_OK) {
                bad++;
                continue;
            }
            render(&v[0], got, sizeof got);
            if (strcmp(got, r->expected) != 0) bad++;
            /* The same row four times through the batch call. */
            q[0].offset = 0;
            q[0].len = r->name_len;
            q[0].port = r->port;
            q[0].via = r->via;
            q[1] = q[2] = q[3] = q[0];
            if (hostgate_check_batch(r->engine, r->policy_index, r->name, r->name_len, q, 4, v) !=
                HOSTGATE_RESULT_OK) {
                bad++;
                continue;
            }
            render(&v[3], got, sizeof got);
            if (strcmp(got, r->expected) != 0) bad++;
        }
    }
    return (void *)bad;
}

int main(int argc, char **argv) {
    int threads = argc > 2 ? atoi(argv[2]) : 8, i;
    pthread_t tid[64];
    long total = 0;
    if (argc < 2 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: %s tests/contract [THREADS<=64] [ROUNDS]\n", argv[0]);
        return 2;
    }
    if (argc > 3) rounds = atoi(argv[3]);
    table_load(&t, argv[1]);
    for (i = 0; i < threads; i++) CHECK(pthread_create(&tid[i], NULL, worker, NULL) == 0);
    for (i = 0; i < threads; i++) {
        void *bad = NULL;
        CHECK(pthread_join(tid[i], &bad) == 0);
        total += (long)bad;
    }
    CHECK(total == 0);
    table_free(&t);
    printf("threads (C): %d threads x %d rounds x %zu rows, %ld wrong verdicts\n", threads, rounds,
           t.count, total);
    return failures ? 1 : 0;
}
