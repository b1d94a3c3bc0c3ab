#pragma once

namespace dbsnap::util {

// Installs SIGINT/SIGTERM handlers that only set a flag, and ignores SIGPIPE
// (a closed pipe becomes an EPIPE error where it happens). A second signal
// restores the default action and re-raises it, so a stuck run can still be
// stopped; whatever temp files that leaves are removed by the next run.
void install_interrupt_handlers();

// The signal number received, or 0. Long loops poll this between chunks.
int interrupt_signal() noexcept;

// Throws DbsnapError(interrupted) when a signal has arrived.
void check_interrupted();

// The exit code of an interrupted run: 128 + the signal's number, as shells
// report a process a signal ended (130 for SIGINT, 143 for SIGTERM); 130
// when no signal was recorded (it was cleared, or the error came from elsewhere).
int interrupted_exit_code() noexcept;

// True when standard input is a terminal (confirmation prompts need one).
bool stdin_is_terminal();

// Asks a yes/no question on the terminal; true only for an explicit yes.
bool confirm(const char* question);

}  // namespace dbsnap::util

namespace dbsnap::util {

// Forgets a received SIGINT/SIGTERM, so that a guarded operation whose
// command was interrupted can still put the database back; a further signal
// interrupts that too (the restore is all-or-nothing, so it stays safe).
void clear_interrupt() noexcept;

}  // namespace dbsnap::util
