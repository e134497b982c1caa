/* stop_signal.c — see stop_signal.h. The handler uses only async-signal-safe
 * calls: write(2), signal(2), raise(3). */
#include "trainer/train/stop_signal.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t pending;

static void say(const char *s) {
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void on_signal(int sig) {
    if (pending) { /* second signal: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    pending = sig;
    say(sig == SIGUSR1   ? "\nmtbert: SIGUSR1"
        : sig == SIGTERM ? "\nmtbert: SIGTERM"
                         : "\nmtbert: SIGINT");
    say(" received: stopping after this step with a checkpoint (send it again to stop at once)\n");
}

void stop_signal_install(void) {
    static int installed;
    if (installed) return;
    installed = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* reads and MPI waits carry on */
    const int sigs[] = {SIGTERM, SIGUSR1, SIGINT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        /* a signal the parent set to be ignored (nohup, `cmd &` in a script) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

int stop_signal_pending(void) { return pending; }
