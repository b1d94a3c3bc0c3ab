#include "dbsnap/util/interrupt.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "dbsnap/util/error.hpp"

namespace dbsnap::util {

namespace {

volatile std::sig_atomic_t received_signal = 0;

extern "C" void on_signal(int signal) {
  if (received_signal != 0) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  received_signal = signal;
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: blocking reads return EINTR and the loop sees the flag
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int interrupt_signal() noexcept { return received_signal; }

void check_interrupted() {
  if (int signal = received_signal; signal != 0) {
    fail(ErrorKind::interrupted, "interrupted by {}; nothing was published or changed",
         signal == SIGINT ? "SIGINT" : "SIGTERM");
  }
}

int interrupted_exit_code() noexcept {
  const int signal = received_signal;
  return 128 + (signal == SIGTERM ? SIGTERM : SIGINT);
}

bool stdin_is_terminal() { return ::isatty(STDIN_FILENO) == 1; }

bool confirm(const char* question) {
  std::fprintf(stderr, "%s [y/N] ", question);
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES" || answer == "Yes";
}

}  // namespace dbsnap::util

namespace dbsnap::util {

void clear_interrupt() noexcept { received_signal = 0; }

}  // namespace dbsnap::util
