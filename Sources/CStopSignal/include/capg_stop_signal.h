// A stop request from the batch system (Slurm sends SIGTERM before preemption and, with
// --signal, SIGUSR1 before the time limit). The handler only records the signal number in
// a `volatile sig_atomic_t`, the one kind of object the C standard lets a handler write;
// the trainer polls it once per step and combines it across ranks. This is the only
// process-global mutable state of capg, and it exists because a signal handler needs it.
#ifndef CAPG_STOP_SIGNAL_H
#define CAPG_STOP_SIGNAL_H

/// Installs the handler for SIGTERM and SIGUSR1 (sigaction with SA_RESTART, so system
/// calls in progress are restarted rather than failing with EINTR). Returns 0 on success,
/// -1 with errno set otherwise.
int capg_stop_signal_install(void);

/// The number of the last stop signal received, 0 if none.
int capg_stop_signal_received(void);

/// Forgets a received signal (tests).
void capg_stop_signal_reset(void);

#endif
