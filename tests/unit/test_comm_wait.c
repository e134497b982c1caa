/* test_comm_wait.c — the wall-clock-limited wait behind the NCCL stream
 * waits (comm_wait, comm_parse_seconds, comm_timeout_seconds in comm/comm.c),
 * on the CPU: a poll that finishes is waited for exactly as long as it
 * takes, a failing poll stops the wait at once, a poll that never finishes
 * is given up after the limit (and not long after), and the limit comes from
 * MTBERT_NCCL_TIMEOUT_S with a default of 300 s. An alarm ends the test if a
 * wait ignores its limit. */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "comm/comm.h"
#include "testutil.h"

typedef struct {
    int calls, done_after, fail_at;
} Fake;

static int fake_poll(void *arg) {
    Fake *f = (Fake *)arg;
    f->calls++;
    if (f->fail_at && f->calls >= f->fail_at) return -1;
    if (f->done_after && f->calls >= f->done_after) return 1;
    return 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_comm_wait: a wait ignored its limit (alarm after 20 s)\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(1);
    _exit(1);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(20);

    /* finishes on the 5th look, with and without a limit */
    Fake f = {0, 5, 0};
    CHECK(comm_wait(fake_poll, &f, 10.0) == 0);
    CHECKF(f.calls == 5, "%d polls, want 5", f.calls);
    f = (Fake){0, 3, 0};
    CHECK(comm_wait(fake_poll, &f, 0) == 0);
    CHECK(f.calls == 3);

    /* a failure stops at once */
    f = (Fake){0, 0, 2};
    CHECK(comm_wait(fake_poll, &f, 10.0) == -1);
    CHECK(f.calls == 2);

    /* never done: timed out after the limit, not much later */
    f = (Fake){0, 0, 0};
    double t0 = now();
    int rc = comm_wait(fake_poll, &f, 0.3);
    double dt = now() - t0;
    CHECKF(rc == 1, "never-done wait returned %d, want 1 (timed out)", rc);
    CHECKF(dt >= 0.3 && dt < 3.0, "timed out after %.3f s for a 0.3 s limit", dt);
    CHECK(f.calls > 1);
    printf("a 0.3 s limit gave up after %.3f s and %d polls\n", dt, f.calls);

    /* parsing */
    double v = -1;
    CHECK(comm_parse_seconds("300", &v) == 0 && v == 300.0);
    CHECK(comm_parse_seconds("0.5", &v) == 0 && v == 0.5);
    CHECK(comm_parse_seconds("0", &v) == 0 && v == 0.0);
    v = 7;
    CHECK(comm_parse_seconds("abc", &v) == -1 && v == 7);
    CHECK(comm_parse_seconds("-3", &v) == -1);
    CHECK(comm_parse_seconds("5s", &v) == -1);
    CHECK(comm_parse_seconds("", &v) == -1);
    CHECK(comm_parse_seconds(NULL, &v) == -1);
    CHECK(comm_parse_seconds("inf", &v) == -1);

    /* the environment */
    unsetenv("MTBERT_NCCL_TIMEOUT_S");
    CHECK(comm_timeout_seconds() == 300.0);
    setenv("MTBERT_NCCL_TIMEOUT_S", "2.5", 1);
    CHECK(comm_timeout_seconds() == 2.5);
    setenv("MTBERT_NCCL_TIMEOUT_S", "0", 1);
    CHECK(comm_timeout_seconds() == 0.0);
    fprintf(stderr, "(a warning about MTBERT_NCCL_TIMEOUT_S='soon' is expected next)\n");
    setenv("MTBERT_NCCL_TIMEOUT_S", "soon", 1);
    CHECK(comm_timeout_seconds() == 300.0);
    unsetenv("MTBERT_NCCL_TIMEOUT_S");

    alarm(0);
    return test_finish("test_comm_wait");
}
