#include "capg_stop_signal.h"

#include <signal.h>
#include <string.h>

// Written only by the handler (and by the reset used in tests), read by the main thread.
static volatile sig_atomic_t received = 0;

static void on_stop_signal(int signo) { received = signo; }

int capg_stop_signal_install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &action, NULL) != 0) return -1;
    if (sigaction(SIGUSR1, &action, NULL) != 0) return -1;
    return 0;
}

int capg_stop_signal_received(void) { return received; }

void capg_stop_signal_reset(void) { received = 0; }
